import WebSocket from 'ws';
import type {
  Method,
  NotificationMethod,
  Notifications,
  RequestData,
  ResponseData,
} from '../../proto/signaling/messages';

type Response = {
  id: number | string | null;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
};
type Notification = { method: string; data: unknown };

/** Thrown by request() for an `ok: false` response; carries the server's code. */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** 'ok', the error code of a refused request, or the message of anything else thrown. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof RequestError ? e.code : `thrown: ${(e as Error).message}`;
  }
}

/**
 * A signaling client for tests: speaks the wire protocol with `ws`, records every notification and
 * lets a test wait for one. Not the product's client (that is web/src/protocol).
 */
export class SignalingTestClient {
  readonly ws: WebSocket;
  readonly notifications: Notification[] = [];
  readonly unmatched: Response[] = [];
  /** The length of every frame that was an array of notifications (join with `chatBatches`). */
  readonly batchFrames: number[] = [];
  closeCode: number | undefined;
  closeReason = '';
  #nextId = 1;
  readonly #pending = new Map<number | string, (r: Response) => void>();
  readonly #waiters: { pred: (n: Notification) => boolean; resolve: (n: Notification) => void }[] = [];
  readonly #closed: Promise<number>;

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as (Response & Notification) | Notification[];
      if (Array.isArray(frame)) {
        this.batchFrames.push(frame.length);
        for (const n of frame) this.#onNotification(n);
        return;
      }
      const msg = frame;
      if ('ok' in msg) {
        const cb = msg.id === null ? undefined : this.#pending.get(msg.id);
        if (cb) {
          this.#pending.delete(msg.id!);
          cb(msg);
        } else this.unmatched.push(msg);
        return;
      }
      this.#onNotification(msg);
    });
    this.#closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
  }

  #onNotification(n: Notification): void {
    this.notifications.push(n);
    for (const w of [...this.#waiters])
      if (w.pred(n)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(n);
      }
  }

  /** Opens the socket; resolves when open (or when closed, for refused sockets). */
  static async connect(url: string): Promise<SignalingTestClient> {
    const c = new SignalingTestClient(url);
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('close', () => resolve());
      c.ws.once('error', reject);
    });
    return c;
  }

  async request<M extends Method>(
    method: M,
    data: RequestData<M>,
    timeoutMs = 10_000,
  ): Promise<ResponseData[M]> {
    const r = await this.raw({ id: this.#nextId++, method, data }, timeoutMs);
    if (!r.ok) throw new RequestError(r.error!.code, r.error!.message);
    return r.data as ResponseData[M];
  }

  /** Sends any frame (a JSON value or a raw string) and waits for the response with its id. */
  raw(frame: unknown, timeoutMs = 10_000): Promise<Response> {
    const id = (frame as { id?: number | string })?.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no response to ${JSON.stringify(frame).slice(0, 80)}`)),
        timeoutMs,
      );
      const done = (r: Response) => {
        clearTimeout(timer);
        resolve(r);
      };
      if (id !== undefined) this.#pending.set(id, done);
      else {
        // A frame without a usable id is answered with id null: take the next such response.
        const before = this.unmatched.length;
        const poll = setInterval(() => {
          if (this.unmatched.length > before) {
            clearInterval(poll);
            done(this.unmatched[before]!);
          }
        }, 5);
      }
      this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
    });
  }

  waitFor<M extends NotificationMethod>(
    method: M,
    pred: (d: Notifications[M]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Notifications[M]> {
    const match = (n: Notification) => n.method === method && pred(n.data as Notifications[M]);
    const seen = this.notifications.find(match);
    if (seen) return Promise.resolve(seen.data as Notifications[M]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${method} notification within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        pred: match,
        resolve: (n) => {
          clearTimeout(timer);
          resolve(n.data as Notifications[M]);
        },
      });
    });
  }

  /**
   * Connects and joins as a browser would: when the edge answers with `session.redirect`, connects to
   * the room's home edge with the same token and joins there.
   */
  static async joinAnywhere(
    url: string,
    token: string,
    join: RequestData<'join'> = {},
  ): Promise<{ client: SignalingTestClient; join: ResponseData['join']; redirected: boolean }> {
    const first = await SignalingTestClient.connect(`${url}?token=${encodeURIComponent(token)}`);
    try {
      return { client: first, join: await first.request('join', join), redirected: false };
    } catch (err) {
      const redirect = first.notifications.find((n) => n.method === 'session.redirect');
      if (!redirect) throw err;
      const target = (redirect.data as Notifications['session.redirect']).url;
      const client = await SignalingTestClient.connect(`${target}?token=${encodeURIComponent(token)}`);
      return { client, join: await client.request('join', join), redirected: true };
    }
  }

  closed(): Promise<number> {
    return this.#closed;
  }

  /** Drops the TCP connection without a close handshake, like a network loss. */
  drop(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close();
  }
}
