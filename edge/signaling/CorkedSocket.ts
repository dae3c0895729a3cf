import type { Socket } from 'node:net';
import type { SocketLike } from './Connection';

/** What we need of a Hono WSContext: send/close, and the `ws` WebSocket under it. */
interface WsContextLike {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  raw?: unknown;
}

/** The `ws` WebSocket's send, which can send bytes as a text frame (Hono's send cannot). */
interface RawWs {
  send(data: Buffer, options: { binary: boolean }): void;
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
  readonly #raw: RawWs | undefined;
  #corked = false;

  constructor(ws: WsContextLike) {
    this.#ws = ws;
    const raw = ws.raw as (Partial<RawWs> & { _socket?: Socket }) | undefined;
    this.#tcp = typeof raw?._socket?.cork === 'function' ? raw._socket : undefined;
    this.#raw = typeof raw?.send === 'function' ? (raw as RawWs) : undefined;
  }

  send(text: string | Buffer): void {
    const tcp = this.#tcp;
    if (tcp && !this.#corked && !tcp.destroyed) {
      this.#corked = true;
      tcp.cork();
      setImmediate(() => {
        this.#corked = false;
        tcp.uncork();
      });
    }
    if (typeof text === 'string') this.#ws.send(text);
    else if (this.#raw) this.#raw.send(text, { binary: false });
    else this.#ws.send(text.toString());
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}
