import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHAT_TOPIC,
  createConsumer,
  createKafka,
  KeyedProducer,
  mirroredTopic,
  REGION_TOPICS,
} from '../../../lib/kafka';
import { Mesh } from '../../../regions/launcher';

// Two regions and the core, each with its Kafka, and MirrorMaker 2 with the topology's flows:
// 3 brokers + 1 MirrorMaker = 4 JVMs.
let mesh: Mesh;
const clients: { close: () => Promise<void> }[] = [];

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-kafka',
    portBase: 31000,
    regions: ['seoul', 'frankfurt'],
    redis: false,
    onProgress: (l) => console.log(l),
  });
});

afterAll(async () => {
  for (const c of clients.reverse()) await c.close().catch(() => {});
  await mesh?.stop();
});

function kafkaOf(region: string): Kafka {
  return createKafka({ brokers: mesh.info.regions[region]!.kafka!.bootstrap, clientId: `test-${region}` });
}

/** The project's producer (idempotent, acks=all). */
async function producerIn(region: string): Promise<KeyedProducer> {
  const p = new KeyedProducer(kafkaOf(region));
  await p.connect();
  clients.push({ close: () => p.disconnect() });
  return p;
}

type Seen = Map<string, { at: number; ts: number }>;

/** A consumer group in `region` reading `topic` from the beginning; resolves once it has joined. */
async function collect(region: string, topic: string): Promise<Seen> {
  const seen: Seen = new Map();
  const consumer: Consumer = createConsumer(kafkaOf(region), { groupId: `test-${region}-${randomUUID()}` });
  clients.push({ close: () => consumer.disconnect() });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      const id = message.key?.toString() ?? '';
      if (!seen.has(id)) seen.set(id, { at: Date.now(), ts: Number(message.timestamp) });
    },
  });
  await joined;
  return seen;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

describe('Kafka and MirrorMaker 2 (seoul, frankfurt, core)', () => {
  it('a record produced in seoul is consumed in seoul, and appears as seoul.chat in frankfurt and in the core', async () => {
    const local = await collect('seoul', CHAT_TOPIC);
    const inFrankfurt = await collect('frankfurt', mirroredTopic('seoul', CHAT_TOPIC));
    const inCore = await collect('core', mirroredTopic('seoul', CHAT_TOPIC));
    const producer = await producerIn('seoul');

    const ids: string[] = [];
    const count = 60;
    for (let i = 0; i < count; i++) {
      const id = `m-${i}-${randomUUID()}`;
      ids.push(id);
      // Keyed by id here so records spread over partitions; edges key by room.
      await producer.send(CHAT_TOPIC, [{ key: id, value: `hello ${i}` }]);
      await new Promise((r) => setTimeout(r, 50)); // ~20 records/s
    }
    await until('every record in seoul', () => ids.every((id) => local.has(id)));
    await until('every record in frankfurt as seoul.chat', () => ids.every((id) => inFrankfurt.has(id)));
    await until('every record in the core as seoul.chat', () => ids.every((id) => inCore.has(id)));

    const lag = (dest: Seen) => ids.map((id) => dest.get(id)!.at - local.get(id)!.at);
    const e2e = (dest: Seen) => ids.map((id) => dest.get(id)!.at - dest.get(id)!.ts);
    const line = (name: string, xs: number[]) =>
      `${name}: p50 ${pct(xs, 50)} ms, p95 ${pct(xs, 95)} ms, max ${Math.max(...xs)} ms`;
    console.log(
      [
        `replication lag over ${count} records at ~20/s (time seen there − time seen by the local consumer):`,
        `  ${line('seoul -> frankfurt', lag(inFrankfurt))}`,
        `  ${line('seoul -> core     ', lag(inCore))}`,
        `produce → consume, end to end (record timestamp → delivery):`,
        `  ${line('seoul local       ', e2e(local))}`,
        `  ${line('seoul -> frankfurt', e2e(inFrankfurt))}`,
        `  ${line('seoul -> core     ', e2e(inCore))}`,
      ].join('\n'),
    );
    // Generous bound for a shared 2-core machine; the printed numbers are the measurement.
    expect(pct(lag(inFrankfurt), 50)).toBeLessThan(2000);
  });

  it('replicates frankfurt -> seoul as frankfurt.<topic> for every region topic', async () => {
    const producer = await producerIn('frankfurt');
    for (const t of REGION_TOPICS) {
      const seen = await collect('seoul', mirroredTopic('frankfurt', t.name));
      const id = `x-${randomUUID()}`;
      await producer.send(t.name, [{ key: id, value: 'x' }]);
      await until(`${t.name} from frankfurt in seoul`, () => seen.has(id));
    }
  });

  it('never re-replicates a mirrored topic (no seoul.chat back to seoul, nothing mirrored twice)', async () => {
    // Give MirrorMaker several topic refreshes (every 2 s) to do the wrong thing.
    await new Promise((r) => setTimeout(r, 6000));
    const own = REGION_TOPICS.map((t) => t.name);
    const expected: Record<string, string[]> = {
      seoul: [...own, ...own.map((t) => mirroredTopic('frankfurt', t))],
      frankfurt: [...own, ...own.map((t) => mirroredTopic('seoul', t))],
      core: [...own.map((t) => mirroredTopic('seoul', t)), ...own.map((t) => mirroredTopic('frankfurt', t))],
    };
    for (const [region, want] of Object.entries(expected)) {
      const admin = kafkaOf(region).admin();
      await admin.connect();
      // Leave out Kafka's and MirrorMaker's own topics: __consumer_offsets, mm2-*.internal and
      // `heartbeats`, which MM2 creates in every target and replicates by design (it traces flows).
      const topics = (await admin.listTopics()).filter(
        (t) =>
          !t.startsWith('__') &&
          !t.startsWith('mm2-') &&
          !t.endsWith('.internal') &&
          !/(^|\.)heartbeats$/.test(t),
      );
      await admin.disconnect();
      expect(topics.sort(), `topics in ${region}`).toEqual([...want].sort());
    }
  });
});
