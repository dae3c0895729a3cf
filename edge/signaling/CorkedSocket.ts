import type { Socket } from 'node:net';
import type { SocketLike } from './Connection';

/** What we need of a Hono WSContext: send/close, and the `ws` WebSocket under it. */
interface WsContextLike extends SocketLike {
  raw?: unknown;
}

/**
 * Writes every frame sent to one socket within one turn of the event loop with one system call.
 * A chat burst delivers many frames to each socket in one turn (a Kafka batch); written one by one,
 * the writes cost more than everything else the edge does per message. Each frame stays its own
 * WebSocket message: only the TCP writes are batched.
 */
export class CorkedSocket implements SocketLike {
  readonly #ws: WsContextLike;
  // `ws` keeps the TCP socket in `_socket`; it has no public cork API. Without it we just send.
  readonly #tcp: Socket | undefined;
  #corked = false;

  constructor(ws: WsContextLike) {
    this.#ws = ws;
    const tcp = (ws.raw as { _socket?: Socket } | undefined)?._socket;
    this.#tcp = typeof tcp?.cork === 'function' ? tcp : undefined;
  }

  send(text: string): void {
    const tcp = this.#tcp;
    if (tcp && !this.#corked && !tcp.destroyed) {
      this.#corked = true;
      tcp.cork();
      setImmediate(() => {
        this.#corked = false;
        tcp.uncork();
      });
    }
    this.#ws.send(text);
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}
