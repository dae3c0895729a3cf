import WebSocket from 'ws';
import { devToken } from '../../test/support/liveMesh';
import type { ChatBenchClient } from './ChatBenchClient';

const NOTIFICATION_PREFIX = '{"method":"chat.message"';

/**
 * A Meetview participant speaking the signaling protocol with `ws`: `join {chatBatches: true}` (as the
 * web client does), then `chat.send`.
 * Lean on purpose (no notification log): the benchmark process parses every delivered message, and
 * a participant without a listener skips the parse.
 */
export class MeetviewClient implements ChatBenchClient {
  readonly identity: string;
  onMessage: ((text: string) => void) | undefined;
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #nextId = 1;

  static async connect(edgeUrl: string, room: string, identity: string): Promise<MeetviewClient> {
    const { url } = await devToken(edgeUrl, { room, identity, name: identity });
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('close', (code, reason) => reject(new Error(`meetview ${identity}: closed ${code} ${reason}`)));
    });
    const client = new MeetviewClient(ws, identity);
    await client.#request('join', { chatBatches: true });
    return client;
  }

  private constructor(ws: WebSocket, identity: string) {
    this.#ws = ws;
    this.identity = identity;
    ws.on('message', (raw: Buffer) => this.#onFrame(raw.toString()));
    ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error(`meetview ${identity}: socket closed`));
      this.#pending.clear();
    });
  }

  send(text: string): Promise<void> {
    return this.#request('chat.send', { text });
  }

  close(): void {
    this.#ws.terminate();
  }

  #request(method: string, data: object): Promise<void> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, data }));
    });
  }

  #onFrame(s: string): void {
    if (s.startsWith('[')) {
      // Chat messages delivered together (the join asked for chatBatches).
      if (!this.onMessage) return;
      for (const { data } of JSON.parse(s) as { data: { text: string; kind?: string } }[])
        if (data.kind !== 'system') this.onMessage(data.text);
      return;
    }
    if (s.startsWith('{"method":')) {
      if (!this.onMessage || !s.startsWith(NOTIFICATION_PREFIX)) return;
      const { data } = JSON.parse(s) as { data: { text: string; kind?: string } };
      if (data.kind !== 'system') this.onMessage(data.text);
      return;
    }
    const r = JSON.parse(s) as { id: number; ok: boolean; error?: { code: string; message: string } };
    const p = this.#pending.get(r.id);
    if (!p) return;
    this.#pending.delete(r.id);
    if (r.ok) p.resolve();
    else p.reject(new Error(`${r.error?.code}: ${r.error?.message}`));
  }
}
