import { io, type Socket } from 'socket.io-client';
import type { ChatBenchClient } from './ChatBenchClient';

/** A participant of the Socket.IO peer (bench/peers/socketio/server.ts). */
export class SocketIoClient implements ChatBenchClient {
  readonly identity: string;
  onMessage: ((text: string) => void) | undefined;
  readonly #socket: Socket;

  static async connect(url: string, room: string, identity: string): Promise<SocketIoClient> {
    const socket = io(url, { transports: ['websocket'], auth: { identity }, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const client = new SocketIoClient(socket, identity);
    const r = (await socket.timeout(10_000).emitWithAck('join', room)) as { ok: boolean; error?: string };
    if (!r.ok) throw new Error(`socket.io join: ${r.error}`);
    return client;
  }

  private constructor(socket: Socket, identity: string) {
    this.#socket = socket;
    this.identity = identity;
    socket.on('chat.message', (m: { text: string }) => this.onMessage?.(m.text));
  }

  async send(text: string): Promise<void> {
    const r = (await this.#socket.timeout(30_000).emitWithAck('chat.send', { text })) as {
      ok: boolean;
      error?: string;
    };
    if (!r.ok) throw new Error(`socket.io chat.send: ${r.error}`);
  }

  close(): void {
    this.#socket.disconnect();
  }
}
