import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseCode } from '../../../proto/signaling/errors';
import {
  backoffDelay,
  type CloseInfo,
  type ConnectionState,
  closeAction,
  DEFAULT_BACKOFF,
  RequestError,
  resolveSignalingUrl,
  SignalingClient,
  type WebSocketLike,
} from './SignalingClient';

/** A plain fake of the browser WebSocket: the test opens, closes and answers it by hand. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: { id: number; method: string; data: unknown }[] = [];
  closedByClient: number | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number): void {
    this.closedByClient = code ?? 1005;
    this.readyState = 3;
  }
  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  serverSend(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function setup(opts: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}) {
  const sockets: FakeSocket[] = [];
  const client = new SignalingClient({
    url: 'ws://edge.test/rtc?token=abc',
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    random: () => 0.5, // no jitter
    ...opts,
  });
  const states: ConnectionState[] = [];
  const opens: boolean[] = [];
  const closed: CloseInfo[] = [];
  client.on('state', (s) => states.push(s));
  client.on('open', (o) => opens.push(o.reconnected));
  client.on('closed', (c) => closed.push(c));
  const last = () => sockets[sockets.length - 1]!;
  return { client, sockets, states, opens, closed, last };
}

describe('SignalingClient requests', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('matches responses to requests by id, in any order', async () => {
    const { client, last } = setup();
    client.connect();
    last().serverOpen();
    const a = client.request('transport.create', { direction: 'send' });
    const b = client.request('produce', {
      transportId: 't1',
      kind: 'audio',
      rtpParameters: {},
      source: 'microphone',
    });
    const [ra, rb] = last().sent;
    expect(ra).toMatchObject({ method: 'transport.create', data: { direction: 'send' } });
    expect(rb).toMatchObject({ method: 'produce' });
    expect(ra!.id).not.toBe(rb!.id);
    last().serverSend({ id: rb!.id, ok: true, data: { producerId: 'p1' } });
    last().serverSend({ id: ra!.id, ok: false, error: { code: 'FORBIDDEN', message: 'no publish grant' } });
    await expect(b).resolves.toEqual({ producerId: 'p1' });
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ code: 'FORBIDDEN', message: 'no publish grant', method: 'transport.create' });
  });

  it('times a request out, and ignores the late response', async () => {
    const { client, last } = setup({ requestTimeoutMs: 1000 });
    client.connect();
    last().serverOpen();
    const p = client.request('leave', {});
    const caught = p.catch((e: unknown) => e);
    vi.advanceTimersByTime(1001);
    expect(await caught).toMatchObject({ code: 'TIMEOUT' });
    // A late answer for a forgotten id must not throw or resolve anything.
    last().serverSend({ id: last().sent[0]!.id, ok: true, data: {} });
  });

  it('rejects requests while not connected, and pending ones when the socket drops', async () => {
    const { client, last } = setup();
    client.connect();
    await expect(client.request('leave', {})).rejects.toMatchObject({ code: 'DISCONNECTED' });
    last().serverOpen();
    const p = client.request('join', {}).catch((e: unknown) => e);
    last().serverClose(1006);
    expect(await p).toMatchObject({ code: 'DISCONNECTED' });
  });

  it('delivers notifications as typed events and survives garbage frames', () => {
    const { client, last } = setup();
    const seen: string[] = [];
    client.onNotification('participant.joined', (d) => seen.push(d.participant.identity));
    client.onNotification('activeSpeaker', (d) => seen.push(`speaker:${d.identity}`));
    client.connect();
    last().serverOpen();
    last().serverSend('not json {');
    last().serverSend({ something: 'else' });
    last().serverSend({
      method: 'participant.joined',
      data: { participant: { identity: 'bob', name: 'Bob', region: 'r', node: 'n', joinedAt: 1 } },
    });
    last().serverSend({ method: 'activeSpeaker', data: { identity: 'bob' } });
    expect(seen).toEqual(['bob', 'speaker:bob']);
  });

  it('delivers each notification of an array frame (chat batches) in order, skipping junk elements', () => {
    const { client, last } = setup();
    const texts: string[] = [];
    client.onNotification('chat.message', (d) => texts.push(d.text));
    client.connect();
    last().serverOpen();
    const chat = (text: string) => ({
      method: 'chat.message',
      data: { messageId: text, room: 'r', from: { identity: 'a', name: 'A' }, text, ts: 1 },
    });
    last().serverSend([chat('one'), null, 7, { id: 3, ok: true }, chat('two'), chat('three')]);
    last().serverSend(chat('four'));
    expect(texts).toEqual(['one', 'two', 'three', 'four']);
  });
});

describe('SignalingClient reconnect policy', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reconnects with backoff after an unexpected close and reports the states', () => {
    const { client, sockets, states, opens, last } = setup();
    client.connect();
    last().serverOpen();
    last().serverClose(1006);
    expect(client.state).toBe('reconnecting');
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs - 1);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    // The second attempt fails too: the delay doubles.
    last().serverClose(1006);
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs * 2 - 1);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
    last().serverOpen();
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
    expect(opens).toEqual([false, true]);
    expect(last().url).toBe('ws://edge.test/rtc?token=abc');
  });

  it.each([
    [CloseCode.Removed, 'removed'],
    [CloseCode.Replaced, 'replaced'],
    [CloseCode.Left, 'left'],
  ] as const)('does not reconnect after close code %i (%s)', (code, kind) => {
    const { client, sockets, closed, last } = setup();
    client.connect();
    last().serverOpen();
    last().serverSend({ method: 'session.closed', data: { code: 'CLOSED', reason: 'bye' } });
    last().serverClose(code);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(client.state).toBe('closed');
    expect(closed).toEqual([{ kind, closeCode: code, error: { code: 'CLOSED', message: 'bye' } }]);
  });

  it('stops after a refusal and reports the server code and message', () => {
    const { client, sockets, closed, last } = setup();
    client.connect();
    last().serverOpen();
    last().serverSend({
      method: 'session.refused',
      data: { code: 'TOKEN_EXPIRED', message: 'token expired' },
    });
    last().serverClose(CloseCode.Refused);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(closed).toEqual([
      { kind: 'refused', closeCode: 4401, error: { code: 'TOKEN_EXPIRED', message: 'token expired' } },
    ]);
  });

  it('follows a redirect at once, keeping the token', () => {
    const { client, sockets, last } = setup({ url: 'ws://edge.test/rtc?token=abc&room=r1' });
    client.connect();
    last().serverOpen();
    last().serverSend({ method: 'session.redirect', data: { url: 'ws://other.test:9000/rtc', node: 'n2' } });
    last().serverClose(CloseCode.Redirect);
    expect(sockets).toHaveLength(2);
    expect(last().url).toBe('ws://other.test:9000/rtc?token=abc&room=r1');
    expect(client.url).toBe('ws://other.test:9000/rtc?token=abc&room=r1');
  });

  it('gives up when the server was never reached', () => {
    const { client, sockets, closed, last } = setup({ maxInitialAttempts: 2 });
    client.connect();
    last().serverClose(1006);
    vi.advanceTimersByTime(10_000);
    last().serverClose(1006);
    vi.advanceTimersByTime(10_000);
    last().serverClose(1006);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(3);
    expect(closed[0]).toMatchObject({ kind: 'unreachable', error: { code: 'UNREACHABLE' } });
    expect(client.state).toBe('closed');
  });

  it('drops a socket that never opens and tries again', () => {
    const { client, sockets } = setup({ connectTimeoutMs: 2000 });
    client.connect();
    vi.advanceTimersByTime(2000);
    expect(sockets[0]!.closedByClient).not.toBeNull();
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    expect(sockets).toHaveLength(2);
  });

  it('close() from the client stops everything', () => {
    const { client, sockets, closed, last } = setup();
    client.connect();
    last().serverOpen();
    client.close();
    expect(last().closedByClient).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(closed).toEqual([{ kind: 'client', closeCode: 1000, error: null }]);
  });
});

describe('pure helpers', () => {
  it('backoff grows, is capped and jittered', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o, () => 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffDelay(1, o, () => 0)).toBe(50);
    expect(backoffDelay(1, o, () => 0.999999)).toBe(150);
  });

  it('closeAction maps close codes', () => {
    const none = { refused: false, redirectUrl: null };
    expect(closeAction(1006, none)).toEqual({ action: 'reconnect' });
    expect(closeAction(1001, none)).toEqual({ action: 'reconnect' });
    expect(closeAction(4401, none)).toEqual({ action: 'stop', kind: 'refused' });
    expect(closeAction(1006, { refused: true, redirectUrl: null })).toEqual({
      action: 'stop',
      kind: 'refused',
    });
    expect(closeAction(4302, { refused: false, redirectUrl: 'ws://x/rtc' })).toEqual({
      action: 'redirect',
      url: 'ws://x/rtc',
    });
    expect(closeAction(4302, none)).toEqual({ action: 'stop', kind: 'refused' });
  });

  it('resolveSignalingUrl turns http into ws, resolves relative URLs and adds missing parameters', () => {
    expect(resolveSignalingUrl('/rtc', { token: 't' }, 'http://a.test:5173/r/x')).toBe(
      'ws://a.test:5173/rtc?token=t',
    );
    expect(resolveSignalingUrl('https://b.test/rtc', { token: 't', room: null }, 'http://a.test/')).toBe(
      'wss://b.test/rtc?token=t',
    );
    expect(resolveSignalingUrl('ws://b.test/rtc?token=u', { token: 't', room: 'r1' }, 'http://a.test/')).toBe(
      'ws://b.test/rtc?token=u&room=r1',
    );
  });
});

describe('SignalingClient.drop', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('behaves like a network loss: reconnects and reports reconnected', () => {
    const { client, sockets, opens, last } = setup();
    client.connect();
    last().serverOpen();
    client.drop();
    expect(client.state).toBe('reconnecting');
    expect(sockets[0]!.closedByClient).toBe(1000);
    // The old socket's late close event must not count as a second loss.
    sockets[0]!.serverClose(1006);
    vi.advanceTimersByTime(DEFAULT_BACKOFF.initialMs);
    expect(sockets).toHaveLength(2);
    last().serverOpen();
    expect(opens).toEqual([false, true]);
  });
});
