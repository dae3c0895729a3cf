import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { createRedisCluster, roomKey } from '../../../lib/redis';
import type { ChatMessageInfo } from '../../../proto/signaling/messages';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge, testTokens } from '../../support/edgeFixture';
import { outcome, type RequestError, SignalingTestClient } from '../../support/SignalingTestClient';

// Region seoul with a 3-broker Kafka (RF 3, min ISR 2) and its Redis Cluster; two edges that both
// serve every room (placement 'local'), so one room's chat crosses between edges through Kafka.
const PORT_BASE = 25000;
let mesh: Mesh;
let edges: EdgeNode[] = [];
const clients: SignalingTestClient[] = [];

type Chat = ChatMessageInfo & { seq: number };

interface Member {
  client: SignalingTestClient;
  token: string;
  edge: EdgeNode;
  identity: string;
  /** Joined with `chatBatches`: chat may arrive as arrays of notifications. */
  batches: boolean;
  received: Chat[];
}

async function member(
  room: string,
  identity: string,
  edge: EdgeNode,
  opts: { grants?: object; batches?: boolean } = {},
): Promise<Member> {
  const { grants } = opts;
  const { token } = await testTokens.mint({ room, identity, name: identity, ...(grants ? { grants } : {}) });
  const client = await SignalingTestClient.connect(`${edge.url.replace('http', 'ws')}/rtc?token=${token}`);
  clients.push(client);
  const m: Member = { client, token, edge, identity, batches: opts.batches === true, received: [] };
  listen(m);
  const j = await client.request('join', m.batches ? { chatBatches: true } : {});
  m.received.unshift(...(j.chat as Chat[]));
  return m;
}

function listen(m: Member): void {
  m.client.ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString());
    for (const msg of Array.isArray(frame) ? frame : [frame])
      if (msg.method === 'chat.message' && msg.data.kind !== 'system') m.received.push(msg.data);
  });
}

/** Drops and reconnects a member, resuming from the last message it has. */
async function reconnect(m: Member): Promise<void> {
  m.client.drop();
  const users = m.received.filter((x) => x.kind !== 'system');
  const last = users.at(-1)?.messageId;
  const client = await SignalingTestClient.connect(
    `${m.edge.url.replace('http', 'ws')}/rtc?token=${m.token}`,
  );
  clients.push(client);
  m.client = client;
  listen(m);
  const j = await client.request('join', {
    ...(last ? { lastMessageId: last } : {}),
    ...(m.batches ? { chatBatches: true } : {}),
  });
  m.received.push(...(j.chat as Chat[]).filter((x) => x.kind !== 'system'));
}

/**
 * Sends `count` messages from each sender at `perSecond` (keep it under the edge's chat limit of 5/s),
 * concurrently; returns acks and failures.
 */
async function load(senders: Member[], count: number, perSecond: number) {
  const acks: { identity: string; text: string; messageId: string }[] = [];
  const failures: string[] = [];
  await Promise.all(
    senders.map(async (s) => {
      for (let i = 0; i < count; i++) {
        const text = `${s.identity}#${i}`;
        try {
          const r = await s.client.request('chat.send', { text, clientMessageId: text }, 30_000);
          acks.push({ identity: s.identity, text, messageId: r.messageId });
        } catch (err) {
          failures.push(`${text}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 1000 / perSecond));
      }
    }),
  );
  return { acks, failures };
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function userTexts(m: Member): string[] {
  return m.received.filter((x) => x.kind !== 'system').map((x) => x.text);
}

/** Exactly the acknowledged messages, each once, and every sender's messages in its send order. */
function expectExactlyOnceInOrder(m: Member, acks: { identity: string; text: string }[]): void {
  const texts = userTexts(m);
  expect(new Set(texts).size, `${m.identity} got duplicates`).toBe(texts.length);
  expect([...texts].sort()).toEqual(acks.map((a) => a.text).sort());
  const bySender = new Map<string, number>();
  for (const t of texts) {
    const [who, n] = t.split('#');
    const prev = bySender.get(who!) ?? -1;
    expect(Number(n), `${m.identity}: ${who}'s messages out of order`).toBeGreaterThan(prev);
    bySender.set(who!, Number(n));
  }
}

const BEFORE = ['before 0', 'before 1', 'before 2'];

/** A room with `a` on one edge and `b` on the other, and BEFORE in its history on both edges. */
async function roomWithHistory(room: string): Promise<[Member, Member]> {
  const a = await member(room, 'a', edges[0]!);
  const b = await member(room, 'b', edges[1]!);
  for (const text of BEFORE) await a.client.request('chat.send', { text });
  await appended([a, b], BEFORE.at(-1)!);
  return [a, b];
}

/** Waits until every member has `text` live and its edge has appended it (chat.history waits for that). */
async function appended(members: Member[], text: string): Promise<void> {
  await until(() => members.every((m) => userTexts(m).includes(text)), 10_000, `"${text}" everywhere`);
  for (const m of members) await m.client.request('chat.history', {});
}

async function historyTexts(m: Member): Promise<string[]> {
  const { messages } = await m.client.request('chat.history', {});
  return (messages as Chat[]).filter((x) => x.kind !== 'system').map((x) => x.text);
}

async function withRedis<T>(use: (redis: ReturnType<typeof createRedisCluster>) => Promise<T>): Promise<T> {
  const redis = createRedisCluster(mesh.info.regions.seoul!.redis!.nodes);
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-chat',
    portBase: PORT_BASE,
    regions: ['seoul'],
    core: false,
    mirrorMaker: false,
    threeBrokerRegion: 'seoul',
  });
  const block = mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === 'seoul')!.index);
  edges = [
    await startTestEdge(mesh.info, {
      region: 'seoul',
      index: 1,
      httpPort: block + 50,
      rtcPort: block + 70,
      placement: 'local',
    }),
    await startTestEdge(mesh.info, {
      region: 'seoul',
      index: 2,
      httpPort: block + 51,
      rtcPort: block + 72,
      placement: 'local',
    }),
  ];
});

afterAll(async () => {
  for (const c of clients) c.drop();
  for (const e of edges) await e.close();
  await mesh?.stop();
});

describe('chat through Kafka', () => {
  it('delivers one room in one order to everyone, with concurrent senders on two edges', async () => {
    const room = 'order';
    const [e1, e2] = edges as [EdgeNode, EdgeNode];
    const members = [
      await member(room, 's1', e1),
      await member(room, 's2', e1, { batches: true }),
      await member(room, 's3', e2),
      await member(room, 's4', e2, { batches: true }),
      await member(room, 'watcher', e2, { batches: true }),
    ];
    const { acks, failures } = await load(members.slice(0, 4), 40, 4);
    expect(failures.slice(0, 5)).toEqual([]);
    await until(() => members.every((m) => userTexts(m).length >= acks.length), 20_000, 'every delivery');
    const reference = userTexts(members[0]!);
    for (const m of members) {
      expectExactlyOnceInOrder(m, acks);
      // The room's order is one order: every participant, on either edge, sees the same sequence.
      expect(userTexts(m)).toEqual(reference);
    }
    const seqs = members[4]!.received.map((x) => x.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('delivers exactly once across a reconnect, and a late joiner gets the history without a gap', async () => {
    const room = 'reconnect';
    const [e1, e2] = edges as [EdgeNode, EdgeNode];
    const sender = await member(room, 'talker', e1);
    const flaky = await member(room, 'flaky', e2, { batches: true });
    const sending = load([sender], 60, 4);
    await until(() => userTexts(flaky).length >= 15, 20_000, 'the first messages');
    await reconnect(flaky);
    await until(() => userTexts(flaky).length >= 35, 20_000, 'more messages');
    await reconnect(flaky);
    const { acks, failures } = await sending;
    expect(failures.slice(0, 5)).toEqual([]);
    await until(() => userTexts(flaky).length >= acks.length, 10_000, 'all messages');
    await new Promise((r) => setTimeout(r, 300)); // anything extra would be a duplicate
    expectExactlyOnceInOrder(flaky, acks);
    const late = await member(room, 'late', e1);
    // The join brings the room's last 50 messages; system ones (e.g. "late joined", when it is already
    // in the log) take places among them. What it has of people's messages is the tail, with no gap.
    const history = userTexts(late);
    expect(history.length).toBeGreaterThanOrEqual(47);
    expect(history).toEqual(userTexts(flaky).slice(-history.length));
  });

  it('acknowledges a retried send once and posts it once', async () => {
    const room = 'retry';
    const a = await member(room, 'a', edges[0]!);
    const b = await member(room, 'b', edges[1]!);
    const first = await a.client.request('chat.send', { text: 'only once', clientMessageId: 'm-1' });
    const again = await a.client.request('chat.send', { text: 'only once', clientMessageId: 'm-1' });
    expect(again.messageId).toBe(first.messageId);
    await a.client.request('chat.send', { text: 'after', clientMessageId: 'm-2' });
    await until(() => userTexts(b).includes('after'), 10_000, 'the second message');
    expect(userTexts(b).filter((t) => t === 'only once')).toHaveLength(1);
  });

  it('sends a direct message only to its addressee (and echoes it to the sender)', async () => {
    const room = 'direct';
    const a = await member(room, 'a', edges[0]!);
    const b = await member(room, 'b', edges[1]!);
    const c = await member(room, 'c', edges[1]!);
    await a.client.request('chat.send', { text: 'psst', to: 'b' });
    await a.client.request('chat.send', { text: 'all', clientMessageId: 'x' });
    // Each edge delivers on its own: wait until all three have it (a is on the other edge).
    await until(() => [a, b, c].every((m) => userTexts(m).includes('all')), 10_000, 'the public message');
    expect(userTexts(b)).toEqual(['psst', 'all']);
    expect(userTexts(a)).toEqual(['psst', 'all']);
    expect(userTexts(c)).toEqual(['all']);
    expect(
      await a.client.request('chat.send', { text: 'x', to: 'nobody' }).catch((e: RequestError) => e.code),
    ).toBe('NOT_FOUND');
  });

  it('sends a burst as array frames to a client that asked for chat batches, one frame each otherwise', async () => {
    const room = 'batches';
    const a = await member(room, 'a', edges[0]!);
    const b = await member(room, 'b', edges[1]!, { batches: true });
    const c = await member(room, 'c', edges[1]!, { batches: true });
    const d = await member(room, 'd', edges[1]!);
    // Sent at once, the burst goes to Kafka in one request and is delivered in one turn.
    const texts = Array.from({ length: 12 }, (_, i) => `burst ${i}`);
    await Promise.all([
      ...texts.map((text) => a.client.request('chat.send', { text })),
      a.client.request('chat.send', { text: 'for b only', to: 'b' }),
    ]);
    await until(() => [b, c, d].every((m) => userTexts(m).includes('burst 11')), 10_000, 'the burst');
    await until(() => userTexts(b).includes('for b only'), 10_000, 'the direct message');
    await new Promise((r) => setTimeout(r, 300)); // anything extra would be a duplicate
    expect(userTexts(d)).toEqual(texts);
    expect(userTexts(c)).toEqual(texts);
    expect(userTexts(b).filter((t) => t !== 'for b only')).toEqual(texts);
    expect(userTexts(b).filter((t) => t === 'for b only')).toHaveLength(1);
    expect(
      b.client.batchFrames.some((n) => n > 1),
      `b's frames: ${b.client.batchFrames}`,
    ).toBe(true);
    expect(
      c.client.batchFrames.some((n) => n > 1),
      `c's frames: ${c.client.batchFrames}`,
    ).toBe(true);
    expect(d.client.batchFrames).toEqual([]);
  });

  it('rebuilds a room history from Kafka when Redis has lost it', async () => {
    const room = 'rebuild';
    const a = await member(room, 'a', edges[0]!);
    for (let i = 0; i < 5; i++) await a.client.request('chat.send', { text: `kept ${i}` });
    await until(() => userTexts(a).length >= 5, 10_000, 'the messages');
    a.client.drop();
    await new Promise((r) => setTimeout(r, 100));
    await withRedis((redis) =>
      redis.del(roomKey(room, 'chat'), roomKey(room, 'chat', 'bodies'), roomKey(room, 'chat', 'built')),
    );
    const b = await member(room, 'b', edges[1]!);
    expect(userTexts(b)).toEqual(['kept 0', 'kept 1', 'kept 2', 'kept 3', 'kept 4']);
  });

  it('rebuilds a history Redis lost while the room goes on: the next message does not hide the loss', async () => {
    const room = 'lost-live';
    const [a, b] = await roomWithHistory(room);
    await withRedis((redis) =>
      redis.del(roomKey(room, 'chat'), roomKey(room, 'chat', 'bodies'), roomKey(room, 'chat', 'built')),
    );
    await a.client.request('chat.send', { text: 'after' });
    await appended([a, b], 'after');
    const expected = [...BEFORE, 'after'];
    expect(await historyTexts(b)).toEqual(expected);
    expect(userTexts(await member(room, 'late', edges[0]!))).toEqual(expected);
  });

  it('rebuilds a history whose newest messages Redis lost (writes a failover did not replicate)', async () => {
    const room = 'lost-tail';
    const [a, b] = await roomWithHistory(room);
    const newest = b.received.find((m) => m.text === 'before 2')!.messageId;
    await withRedis(async (redis) => {
      await redis.zrem(roomKey(room, 'chat'), newest);
      await redis.hdel(roomKey(room, 'chat', 'bodies'), newest);
    });
    await a.client.request('chat.send', { text: 'after' });
    await appended([a, b], 'after');
    expect(await historyTexts(a)).toEqual([...BEFORE, 'after']);
  });

  it('refuses bad chat input with a clear error and affects nobody else', async () => {
    const room = 'bad-chat';
    const a = await member(room, 'a', edges[0]!);
    const muted = await member(room, 'muted', edges[0]!, { grants: { chat: false } });
    const b = await member(room, 'b', edges[1]!);
    expect(await outcome(a.client.request('chat.send', { text: 'x'.repeat(4001) }))).toBe('TOO_LARGE');
    expect(await outcome(a.client.request('chat.send', { text: '  ' }))).toBe('BAD_REQUEST');
    expect(await outcome(a.client.request('chat.send', { text: 'bin\u0000ary' }))).toBe('BAD_REQUEST');
    expect(await outcome(a.client.request('chat.send', { text: 123 as unknown as string }))).toBe(
      'BAD_REQUEST',
    );
    expect((await a.client.raw(Buffer.from([0xff, 0x00]))).error?.code).toBe('BAD_REQUEST');
    expect(await outcome(muted.client.request('chat.send', { text: 'hello' }))).toBe('FORBIDDEN');
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => outcome(a.client.request('chat.send', { text: `burst ${i}` }))),
    );
    expect(burst.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThan(10);
    // b is unaffected: it can send and receives what a got through.
    expect(await outcome(b.client.request('chat.send', { text: 'b is fine' }))).toBe('ok');
    const sent = burst.filter((c) => c === 'ok').length;
    await until(() => userTexts(b).length >= sent + 1, 10_000, 'b to receive');
    expect(userTexts(b).filter((t) => t.startsWith('burst'))).toHaveLength(sent);
  });
});

describe('chat through failures', () => {
  it('kill -9 of a Redis master under chat load: 0 failed sends, 0 lost, 0 duplicates, no hole in the history', async () => {
    const room = 'redis-failover';
    const [e1, e2] = edges as [EdgeNode, EdgeNode];
    const senders = [await member(room, 'r1', e1), await member(room, 'r2', e2)];
    const reader = await member(room, 'reader', e2, { batches: true });
    const redis = mesh.redis('seoul');
    const sending = load(senders, 50, 4);
    await new Promise((r) => setTimeout(r, 2000));
    const victim = (await redis.topology())[0]!.master;
    redis.killNode(victim, 'SIGKILL');
    const { acks, failures } = await sending;
    expect(failures.slice(0, 5)).toEqual([]);
    await until(() => userTexts(reader).length >= acks.length, 30_000, 'every delivery');
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnceInOrder(reader, acks);
    // The history has no hole either (writes the failover lost would be found and rebuilt from Kafka).
    const late = await member(room, 'late', e1);
    const history = userTexts(late);
    expect(history.length).toBeGreaterThanOrEqual(45);
    expect(history).toEqual(userTexts(reader).slice(-history.length));
    await redis.restartNode(victim);
  });

  it('stop 1 of 3 Kafka brokers under chat load: 0 failed sends, 0 lost, 0 duplicates', async () => {
    const room = 'broker-loss';
    const [e1, e2] = edges as [EdgeNode, EdgeNode];
    const senders = [await member(room, 'k1', e1), await member(room, 'k2', e2)];
    const reader = await member(room, 'reader', e1, { batches: true });
    const kafka = mesh.kafka('seoul');
    const sending = load(senders, 50, 4);
    await new Promise((r) => setTimeout(r, 2000));
    await kafka.stopBroker(2, 'SIGKILL');
    const { acks, failures } = await sending;
    expect(failures.slice(0, 5)).toEqual([]);
    await until(() => userTexts(reader).length >= acks.length, 60_000, 'every delivery');
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnceInOrder(reader, acks);
    await kafka.startBroker(2);
  });
});
