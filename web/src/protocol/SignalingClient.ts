import { CloseCode } from '../../../proto/signaling/errors';
import type {
  Method,
  NotificationFrame,
  NotificationMethod,
  Notifications,
  RequestData,
  ResponseData,
} from '../../../proto/signaling/messages';
import { Emitter } from './Emitter';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The part of the browser WebSocket this client uses; tests pass a fake. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

const WS_OPEN = 1;

/** Error codes raised by the client itself, beside the server's ErrorCode values. */
export const ClientErrorCode = {
  Timeout: 'TIMEOUT',
  Disconnected: 'DISCONNECTED',
  /** The server refused or ended the session without a notification saying why. */
  Refused: 'REFUSED',
  /** The server could not be reached after every reconnect attempt. */
  Unreachable: 'UNREACHABLE',
} as const;

/** A failed request: `code` is the server's ErrorCode or a ClientErrorCode. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: string,
    message: string,
    readonly method: string,
  ) {
    super(message);
  }
}

/** Why the client stopped for good. */
export type CloseKind = 'refused' | 'removed' | 'replaced' | 'left' | 'client' | 'unreachable';
export interface CloseInfo {
  kind: CloseKind;
  /** WebSocket close code (0 when the client gave up without a close frame of its own). */
  closeCode: number;
  /** The server's stated reason (`session.refused` / `session.closed`), or a client-side one. */
  error: { code: string; message: string } | null;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of the delay added or removed at random, so that many clients do not return at once. */
  jitter: number;
}
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 300, maxMs: 8000, factor: 2, jitter: 0.25 };

/** Delay before reconnect attempt number `attempt` (1-based). Pure: `random` returns [0, 1). */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** Math.max(0, attempt - 1));
  const spread = base * opts.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}

/**
 * What to do after the socket closed. Pure, so the policy is tested on its own:
 * - the application close codes end the session (refused, removed, replaced, left), as does any close
 *   after a `session.refused` notification;
 * - 4302 follows the redirect named by `session.redirect` (ends the session if there was none);
 * - anything else (network loss, server restart, 1006) reconnects with backoff.
 */
export function closeAction(
  code: number,
  ctx: { refused: boolean; redirectUrl: string | null },
): { action: 'reconnect' } | { action: 'redirect'; url: string } | { action: 'stop'; kind: CloseKind } {
  if (ctx.refused || code === CloseCode.Refused) return { action: 'stop', kind: 'refused' };
  switch (code) {
    case CloseCode.Removed:
      return { action: 'stop', kind: 'removed' };
    case CloseCode.Replaced:
      return { action: 'stop', kind: 'replaced' };
    case CloseCode.Left:
      return { action: 'stop', kind: 'left' };
    case CloseCode.Redirect:
      return ctx.redirectUrl
        ? { action: 'redirect', url: ctx.redirectUrl }
        : { action: 'stop', kind: 'refused' };
    default:
      return { action: 'reconnect' };
  }
}

/**
 * Resolves a signaling URL from the server (dev token answer or `session.redirect`) against the page:
 * http(s) becomes ws(s), a relative path is taken from `base`, and each of `params` (token, room) is added
 * when the URL does not carry it already.
 */
export function resolveSignalingUrl(
  url: string,
  params: Record<string, string | null>,
  base: string,
): string {
  const u = new URL(url, base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  for (const [k, v] of Object.entries(params)) if (v && !u.searchParams.has(k)) u.searchParams.set(k, v);
  return u.toString();
}

export interface SignalingClientOptions {
  /** The ws(s) URL of `/rtc`, token included. */
  url: string;
  requestTimeoutMs?: number;
  /** A socket that has not opened within this time is dropped and retried. */
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Reconnect attempts in a row before giving up (the server's resume grace period is shorter). */
  maxReconnectAttempts?: number;
  /** Attempts before giving up when no socket has ever opened (the server is not there at all). */
  maxInitialAttempts?: number;
  /** Redirects in a row before giving up, so that two edges pointing at each other cannot loop. */
  maxRedirects?: number;
  createSocket?: WebSocketFactory;
  random?: () => number;
}

export type SignalingClientEvents = {
  state: [ConnectionState];
  /** A socket opened: the session must (re)join. `reconnected` is false for the first socket only. */
  open: [{ reconnected: boolean }];
  /** The client stopped for good. */
  closed: [CloseInfo];
};

type NotificationEvents = { [M in NotificationMethod]: [Notifications[M]] };

class NotificationHub extends Emitter<NotificationEvents> {
  dispatch(method: NotificationMethod, data: unknown): void {
    this.emit(method, data as never);
  }
}

interface Pending {
  method: string;
  resolve: (data: unknown) => void;
  reject: (error: RequestError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One WebSocket to the edge's `/rtc`: requests matched to responses by id (each with a timeout),
 * notifications as typed events, reconnect with backoff after an unexpected close.
 */
export class SignalingClient extends Emitter<SignalingClientEvents> {
  readonly #opts: Required<Omit<SignalingClientOptions, 'url'>>;
  readonly #notifications = new NotificationHub();
  readonly #pending = new Map<number, Pending>();
  #url: string;
  #socket: WebSocketLike | null = null;
  #state: ConnectionState = 'connecting';
  #nextId = 1;
  #everOpened = false;
  #attempt = 0;
  #redirects = 0;
  #refused: { code: string; message: string } | null = null;
  #sessionClosed: { code: string; message: string } | null = null;
  #redirectUrl: string | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #started = false;

  constructor(options: SignalingClientOptions) {
    super();
    this.#url = options.url;
    this.#opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      maxReconnectAttempts: options.maxReconnectAttempts ?? 20,
      maxInitialAttempts: options.maxInitialAttempts ?? 4,
      maxRedirects: options.maxRedirects ?? 3,
      createSocket: options.createSocket ?? ((url) => new WebSocket(url) as unknown as WebSocketLike),
      random: options.random ?? Math.random,
    };
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The URL of the current (or last) socket; changes after a redirect. */
  get url(): string {
    return this.#url;
  }

  /** Opens the first socket. */
  connect(): void {
    if (this.#started) throw new Error('SignalingClient.connect() called twice');
    this.#started = true;
    this.#open();
  }

  /** Subscribes to one notification method; returns the unsubscribe function. */
  onNotification<M extends NotificationMethod>(
    method: M,
    listener: (data: Notifications[M]) => void,
  ): () => void {
    return this.#notifications.on(method, listener as (...args: NotificationEvents[M]) => void);
  }

  request<M extends Method>(method: M, data: RequestData<M>, timeoutMs?: number): Promise<ResponseData[M]> {
    const socket = this.#socket;
    if (this.#state !== 'connected' || !socket || socket.readyState !== WS_OPEN) {
      return Promise.reject(new RequestError(ClientErrorCode.Disconnected, 'not connected', method));
    }
    const id = this.#nextId++;
    return new Promise<ResponseData[M]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestError(ClientErrorCode.Timeout, `${method} timed out`, method));
      }, timeoutMs ?? this.#opts.requestTimeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (d: unknown) => void, reject, timer });
      try {
        socket.send(JSON.stringify({ id, method, data }));
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new RequestError(ClientErrorCode.Disconnected, String(error), method));
      }
    });
  }

  /**
   * Drops the current socket as a network loss would, so the reconnect path runs (browser tests use it to
   * cut the WebSocket; the page uses it when the browser reports it is back online).
   */
  drop(): void {
    const socket = this.#socket;
    if (!socket || this.#state === 'closed') return;
    this.#detach(socket);
    try {
      socket.close(1000, 'dropped');
    } catch {
      // already closing
    }
    this.#onClose(1006, 'dropped');
  }

  /** Closes for good, from this side. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#stop({ kind: 'client', closeCode: 1000, error: null });
  }

  #open(): void {
    this.#clearTimers();
    let socket: WebSocketLike;
    try {
      socket = this.#opts.createSocket(this.#url);
    } catch (error) {
      // A malformed URL cannot get better by retrying.
      this.#stop({ kind: 'unreachable', closeCode: 0, error: { code: 'BAD_URL', message: String(error) } });
      return;
    }
    this.#socket = socket;
    this.#connectTimer = setTimeout(() => {
      if (this.#socket === socket && socket.readyState !== WS_OPEN) {
        this.#detach(socket);
        socket.close();
        this.#onClose(1006);
      }
    }, this.#opts.connectTimeoutMs);
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      if (this.#connectTimer) clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#attempt = 0;
      this.#redirectUrl = null;
      this.#setState('connected');
      this.emit('open', { reconnected });
    };
    socket.onmessage = (ev) => {
      if (this.#socket === socket) this.#onMessage(ev.data);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what to do.
    };
    socket.onclose = (ev) => {
      if (this.#socket !== socket) return;
      this.#detach(socket);
      this.#onClose(ev.code, ev.reason);
    };
  }

  #detach(socket: WebSocketLike): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onerror = null;
    socket.onclose = null;
    if (this.#socket === socket) this.#socket = null;
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      console.warn('signaling: dropped a frame that is not JSON');
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    if (Array.isArray(frame)) {
      // Chat messages delivered together (the join asks for them with `chatBatches`): one frame, in order.
      for (const n of frame as unknown[]) {
        const f = n as Record<string, unknown> | null;
        if (typeof f === 'object' && f !== null && typeof f.method === 'string')
          this.#onNotification(f as NotificationFrame);
      }
      return;
    }
    const f = frame as Record<string, unknown>;
    if ('id' in f && typeof f.ok === 'boolean') {
      const pending = typeof f.id === 'number' ? this.#pending.get(f.id) : undefined;
      if (!pending) return; // timed out already, or not ours
      this.#pending.delete(f.id as number);
      clearTimeout(pending.timer);
      if (f.ok) pending.resolve(f.data ?? {});
      else {
        const err = (f.error ?? {}) as { code?: unknown; message?: unknown };
        pending.reject(
          new RequestError(
            typeof err.code === 'string' ? err.code : 'INTERNAL',
            typeof err.message === 'string' ? err.message : 'request failed',
            pending.method,
          ),
        );
      }
      return;
    }
    if (typeof f.method === 'string') this.#onNotification(f as NotificationFrame);
  }

  #onNotification(frame: NotificationFrame): void {
    switch (frame.method) {
      case 'session.refused': {
        const d = frame.data as Notifications['session.refused'];
        this.#refused = { code: d.code, message: d.message };
        break;
      }
      case 'session.closed': {
        const d = frame.data as Notifications['session.closed'];
        this.#sessionClosed = { code: d.code, message: d.reason };
        break;
      }
      case 'session.redirect': {
        const d = frame.data as Notifications['session.redirect'];
        // The redirect names the other edge's /rtc; our token (and room) go with us.
        const q = new URL(this.#url).searchParams;
        try {
          this.#redirectUrl = resolveSignalingUrl(
            d.url,
            { token: q.get('token'), room: q.get('room') },
            this.#url,
          );
        } catch {
          this.#redirectUrl = null;
        }
        break;
      }
    }
    this.#notifications.dispatch(frame.method, frame.data);
  }

  #onClose(code: number, reason = ''): void {
    this.#rejectPending(ClientErrorCode.Disconnected, 'connection lost');
    if (this.#state === 'closed') return;
    const next = closeAction(code, { refused: this.#refused !== null, redirectUrl: this.#redirectUrl });
    if (next.action === 'stop') {
      const error =
        next.kind === 'refused'
          ? (this.#refused ?? { code: ClientErrorCode.Refused, message: reason || 'session refused' })
          : (this.#sessionClosed ?? (reason ? { code: String(code), message: reason } : null));
      this.#stop({ kind: next.kind, closeCode: code, error });
      return;
    }
    if (next.action === 'redirect') {
      this.#redirects += 1;
      if (this.#redirects > this.#opts.maxRedirects) {
        this.#stop({
          kind: 'unreachable',
          closeCode: code,
          error: { code: ClientErrorCode.Unreachable, message: 'too many redirects' },
        });
        return;
      }
      this.#url = next.url;
      this.#redirectUrl = null;
      this.#setState(this.#everOpened ? 'reconnecting' : 'connecting');
      this.#open();
      return;
    }
    this.#attempt += 1;
    const limit = this.#everOpened ? this.#opts.maxReconnectAttempts : this.#opts.maxInitialAttempts;
    if (this.#attempt > limit) {
      this.#stop({
        kind: 'unreachable',
        closeCode: code,
        error: { code: ClientErrorCode.Unreachable, message: 'the server could not be reached' },
      });
      return;
    }
    this.#setState(this.#everOpened ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.#attempt, this.#opts.backoff, this.#opts.random);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#open();
    }, delay);
  }

  #stop(info: CloseInfo): void {
    this.#clearTimers();
    const socket = this.#socket;
    if (socket) {
      this.#detach(socket);
      try {
        socket.close(1000, 'client closed');
      } catch {
        // already closing
      }
    }
    this.#rejectPending(ClientErrorCode.Disconnected, 'connection closed');
    this.#setState('closed');
    this.emit('closed', info);
    this.#notifications.removeAllListeners();
  }

  #rejectPending(code: string, message: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new RequestError(code, message, p.method));
    }
  }

  #clearTimers(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#retryTimer = null;
    this.#connectTimer = null;
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
