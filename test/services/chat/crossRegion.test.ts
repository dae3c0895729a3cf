import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { CHAT_TOPIC, createConsumer, createKafka } from '../../../lib/kafka';
import { Envelope } from '../../../proto/gen/meetview/events/v1/events';
import type { ChatMessageInfo } from '../../../proto/signaling/messages';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge, testTokens } from '../../support/edgeFixture';
import { SignalingTestClient } from '../../support/SignalingTestClient';
import { opaqueBytes, upload } from '../files/support';

// Two regions (seoul, frankfurt) with MirrorMaker 2 both ways and one edge each. A room's chat from
// either region reaches the other through the mirror and the receiving region's ChatRelay.
const PORT_BASE = 12000;
let mesh: Mesh;
let seoul: EdgeNode;
let frankfurt: EdgeNode;
const clients: SignalingTestClient[] = [];

type Chat = ChatMessageInfo & { seq: number };

interface Member {
  client: SignalingTestClient;
  identity: string;
  /** History from the join response, then live messages (user and system). */
  received: Chat[];
  /** Arrival time of each live message id. */
  arrived: Map<string, number>;
}

async function member(room: string, identity: string, edge: EdgeNode): Promise<Member> {
  const { token } = await testTokens.mint({ room, identity, name: identity });
  const client = await SignalingTestClient.connect(`${edge.url.replace('http', 'ws')}/rtc?token=${token}`);
  clients.push(client);
  const m: Member = { client, identity, received: [], arrived: new Map() };
  client.ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.method !== 'chat.message') return;
    m.received.push(msg.data);
    m.arrived.set(msg.data.messageId, Date.now());
  });
  const j = await client.request('join', {});
  m.received.unshift(...(j.chat as Chat[]));
  return m;
}

const userTexts = (m: Member) => m.received.filter((x) => x.kind !== 'system').map((x) => x.text);

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `count` messages `<identity>#<i>` from each sender, concurrently, under the edge's 5/s chat limit. */
async function send(senders: Member[], count: number, tag = ''): Promise<Map<string, number>> {
  const sentAt = new Map<string, number>();
  await Promise.all(
    senders.map(async (s) => {
      for (let i = 0; i < count; i++) {
        const text = `${s.identity}${tag}#${i}`;
        const r = await s.client.request('chat.send', { text, clientMessageId: text });
        sentAt.set(r.messageId, Date.now());
        await new Promise((res) => setTimeout(res, 250));
      }
    }),
  );
  return sentAt;
}

/** Each text once, and every sender's messages in its send order. */
function expectOnceInOrder(m: Member, expected: string[]): void {
  const texts = userTexts(m);
  expect(new Set(texts).size, `${m.identity} got duplicates`).toBe(texts.length);
  expect([...texts].sort()).toEqual([...expected].sort());
  const last = new Map<string, number>();
  for (const t of texts) {
    const [who, n] = t.split('#');
    expect(Number(n), `${m.identity}: ${who}'s messages out of order`).toBeGreaterThan(last.get(who!) ?? -1);
    last.set(who!, Number(n));
  }
}

/** Envelope ids in a region's own chat topic, with how many records carry each. */
async function idsInChatTopic(region: string): Promise<Map<string, number>> {
  const kafka = createKafka({
    brokers: mesh.info.regions[region]!.kafka!.bootstrap,
    clientId: 'test-xr-read',
  });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(CHAT_TOPIC);
  await admin.disconnect();
  const total = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const counts = new Map<string, number>();
  let read = 0;
  const consumer = createConsumer(kafka, { groupId: `test-xr-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic: CHAT_TOPIC, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        read++;
        if (message.value) {
          const id = Envelope.decode(message.value).id;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        if (read >= total) resolve();
      },
    });
  });
  if (total > 0) await done;
  await consumer.disconnect();
  return counts;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-chat-xr',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
  });
  const edgeIn = (region: string) => {
    const block = mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === region)!.index);
    return startTestEdge(mesh.info, { region, index: 1, httpPort: block + 50, rtcPort: block + 70 });
  };
  [seoul, frankfurt] = await Promise.all([edgeIn('seoul'), edgeIn('frankfurt')]);
});

afterAll(async () => {
  for (const c of clients) c.drop();
  await seoul?.close();
  await frankfurt?.close();
  await mesh?.stop();
});

describe('chat across regions', () => {
  it('reaches the other region both ways, exactly once, in each sender’s order; each region’s history keeps it', async () => {
    const room = 'xr-both-ways';
    const ana = await member(room, 'ana', seoul);
    const ben = await member(room, 'ben', frankfurt);
    const sentAt = await send([ana, ben], 10);
    const expected = [...Array(10).keys()].flatMap((i) => [`ana#${i}`, `ben#${i}`]);
    await until(
      () => userTexts(ana).length >= 20 && userTexts(ben).length >= 20,
      30_000,
      'all 20 on both sides',
    );
    await new Promise((r) => setTimeout(r, 1500)); // anything extra (an echo, a duplicate) would show now
    expectOnceInOrder(ana, expected);
    expectOnceInOrder(ben, expected);
    // The join notices crossed too (system messages travel the chat path).
    expect(ana.received.some((m) => m.kind === 'system' && m.from.identity === 'ben')).toBe(true);

    // A later joiner in each region gets that region's history in the order its members saw live.
    const cho = await member(room, 'cho', seoul);
    const dan = await member(room, 'dan', frankfurt);
    expect(userTexts(cho)).toEqual(userTexts(ana));
    expect(userTexts(dan)).toEqual(userTexts(ben));

    // The later of the two arrivals is the other region's.
    const remote = [...sentAt].map(([id, at]) => Math.max(ana.arrived.get(id)!, ben.arrived.get(id)!) - at);
    console.log(
      `cross-region chat (MirrorMaker 2 + relay, loopback): ack→other region p50 ${percentile(remote, 50)} ms, max ${Math.max(...remote)} ms`,
    );
  });

  it('relays a record into each region once and never back to where it came from', async () => {
    const room = 'xr-once';
    const eve = await member(room, 'eve', seoul);
    const fay = await member(room, 'fay', frankfurt);
    await send([eve, fay], 3);
    await until(
      () => userTexts(eve).length >= 6 && userTexts(fay).length >= 6,
      30_000,
      'all 6 on both sides',
    );
    // Long enough for a looping record to have come back through the mirrors (a few hundred ms each way).
    await new Promise((r) => setTimeout(r, 4000));
    const ids = eve.received.filter((m) => m.kind !== 'system').map((m) => m.messageId);
    const [inSeoul, inFrankfurt] = await Promise.all([idsInChatTopic('seoul'), idsInChatTopic('frankfurt')]);
    for (const id of ids) {
      expect(inSeoul.get(id), `records of ${id} in seoul's chat`).toBe(1);
      expect(inFrankfurt.get(id), `records of ${id} in frankfurt's chat`).toBe(1);
    }
  });

  it('goes on in each region while replication is stopped; what was sent meanwhile arrives once, in order', async () => {
    const room = 'xr-cut';
    const gil = await member(room, 'gil', seoul);
    const hana = await member(room, 'hana', frankfurt);
    const mm = mesh.mirrorMaker!.process;
    const pid = mm.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await send([gil, hana], 4, '-cut');
      // Each region's own chat is unaffected…
      await until(() => userTexts(gil).length >= 4 && userTexts(hana).length >= 4, 10_000, 'local chat');
      await new Promise((r) => setTimeout(r, 1000));
      // …and nothing crossed while the mirror was stopped.
      expect(userTexts(gil).every((t) => t.startsWith('gil'))).toBe(true);
      expect(userTexts(hana).every((t) => t.startsWith('hana'))).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const resumed = Date.now();
    await until(
      () => userTexts(gil).length >= 8 && userTexts(hana).length >= 8,
      60_000,
      'the held-back messages',
    );
    console.log(
      `messages held back by the stopped mirror arrived ${Date.now() - resumed} ms after it resumed`,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const expected = [...Array(4).keys()].flatMap((i) => [`gil-cut#${i}`, `hana-cut#${i}`]);
    expectOnceInOrder(gil, expected);
    expectOnceInOrder(hana, expected);
  });

  it('keeps a message from the other region in the history while nobody is in the room here', async () => {
    const room = 'xr-away';
    // Frankfurt has this room's history (built by kai's join), then nobody in the room.
    const kai = await member(room, 'kai', frankfurt);
    await kai.client.request('leave', {});
    await until(() => frankfurt.manager.get(room) === undefined, 10_000, 'frankfurt to close the room');
    const lia = await member(room, 'lia', seoul);
    const { messageId } = await lia.client.request('chat.send', { text: 'while you were away' });
    // The relayed copy is in frankfurt's log, and frankfurt's edge has consumed it (no host there).
    const deadline = Date.now() + 30_000;
    while (!(await idsInChatTopic('frankfurt')).has(messageId)) {
      if (Date.now() > deadline) throw new Error('the message never reached frankfurt’s chat topic');
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const mo = await member(room, 'mo', frankfurt);
    // In mo's history (had frankfurt's edge not consumed it yet, it would come live, as mo is in the room now).
    await until(() => userTexts(mo).length > 0, 5_000, 'the message in mo’s history');
    await new Promise((r) => setTimeout(r, 300)); // a second copy would show now
    expect(userTexts(mo)).toEqual(['while you were away']);
  });

  it('carries a file offer into the other region’s chat history', async () => {
    const room = 'xr-file';
    const { token } = await testTokens.mint({ room, identity: 'ivy', name: 'ivy' });
    const data = opaqueBytes(64 * 1024);
    const up = await upload(seoul.url, token, '보고서.bin', data);
    expect(up.status).toBe(201);
    const id = up.body.file!.id;
    const deadline = Date.now() + 30_000;
    let offer: Chat | undefined;
    while (!offer && Date.now() < deadline) {
      const jay = await member(room, `jay-${Date.now()}`, frankfurt);
      offer = jay.received.find((m) => m.file?.id === id);
      jay.client.drop();
      if (!offer) await new Promise((r) => setTimeout(r, 500));
    }
    expect(offer, 'the offer in frankfurt’s history').toBeDefined();
    expect(offer!.file).toMatchObject({ id, name: '보고서.bin', size: data.length });
    expect(offer!.from.identity).toBe('ivy');
  });
});
