import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAT_TOPIC, createConsumer, createKafka, KeyedProducer } from '../../../lib/kafka';
import { Mesh } from '../../../regions/launcher';

// seoul as a 3-broker KRaft cluster (RF 3, min ISR 2); nothing else, to keep the JVM count at 3.
let mesh: Mesh;

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-broker-loss',
    portBase: 29000,
    regions: ['seoul'],
    core: false,
    redis: false,
    mirrorMaker: false,
    threeBrokerRegion: 'seoul',
    onProgress: (l) => console.log(l),
  });
});

afterAll(async () => {
  await mesh?.stop();
});

describe('Kafka broker loss (seoul, 3 brokers)', () => {
  it('creates the region topics with replication factor 3 and min ISR 2', async () => {
    const kafka = createKafka({ brokers: mesh.info.regions.seoul!.kafka!.bootstrap, clientId: 'test-rf' });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [CHAT_TOPIC] });
      for (const p of topics[0]!.partitions) expect(p.replicas).toHaveLength(3);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2 /* TOPIC */, name: CHAT_TOPIC, configNames: ['min.insync.replicas'] }],
      });
      expect(configs.resources[0]!.configEntries[0]!.configValue).toBe('2');
    } finally {
      await admin.disconnect();
    }
  });

  it('loses no acknowledged record and duplicates none when a broker is killed during a steady produce', async () => {
    const info = mesh.info.regions.seoul!.kafka!;
    const kafka = createKafka({ brokers: info.bootstrap, clientId: 'test-broker-loss' });
    // The project's producer: idempotent, acks=all, one kafkajs send per partition (see KeyedProducer).
    const producer = new KeyedProducer(kafka);
    await producer.connect();
    const run = randomUUID();
    const acked = new Set<number>();
    const failed: string[] = [];
    let seq = 0;
    let stop = false;
    let maxLatency = 0;

    // One producer, each send awaited (a steady stream, ~10 records per send) with acks=all.
    const load = (async () => {
      while (!stop) {
        const batch = Array.from({ length: 10 }, () => seq++);
        const t = Date.now();
        try {
          await producer.send(
            CHAT_TOPIC,
            batch.map((n) => ({ key: `room-${n % 16}`, value: JSON.stringify({ run, n }) })),
          );
          for (const n of batch) acked.add(n);
          maxLatency = Math.max(maxLatency, Date.now() - t);
        } catch (error) {
          failed.push(`${batch[0]}..${batch.at(-1)}: ${(error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    await new Promise((r) => setTimeout(r, 3000));
    // The broker leading partition 0 of chat: its loss forces a leader election.
    const admin = kafka.admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [CHAT_TOPIC] });
    const victim = topics[0]!.partitions.find((p) => p.partitionId === 0)!.leader;
    const ackedBefore = acked.size;
    const killAt = Date.now();
    await mesh.stopKafkaBroker('seoul', victim, 'SIGKILL');
    console.log(`kill -9 broker ${victim} (leader of chat/0) after ${ackedBefore} acknowledged records`);
    // At least 8 s of load after the kill, and until 100 more records are in: the leader election and the
    // client's metadata refresh took up to ~8 s on a loaded machine, which left too few records in a fixed window.
    await new Promise((r) => setTimeout(r, 8000));
    const resumeBy = killAt + 30_000;
    while (acked.size - ackedBefore <= 100 && Date.now() < resumeBy)
      await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await load;
    await producer.disconnect();
    console.log(
      `${seq} records sent, ${acked.size} acknowledged (${acked.size - ackedBefore} after the kill), ` +
        `${failed.length} sends failed, slowest acknowledged send ${maxLatency} ms, ${Date.now() - killAt} ms of load after the kill`,
    );
    expect(acked.size - ackedBefore, 'producing resumed after the broker loss').toBeGreaterThan(100);

    // Read the whole topic back. A duplicate in the log is one record number at two different
    // offsets; a consumer seeing the same offset twice (a rebalance) is not one.
    const where = new Map<number, Set<string>>();
    const consumer = createConsumer(kafka, { groupId: `verify-${run}` });
    await consumer.connect();
    await consumer.subscribe({ topic: CHAT_TOPIC, fromBeginning: true });
    const offsets = await admin.fetchTopicOffsets(CHAT_TOPIC);
    const high = new Map(offsets.map((p) => [p.partition, Number(p.high)]));
    const next = new Map(offsets.map((p) => [p.partition, Number(p.low)]));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset);
        next.set(partition, Math.max(next.get(partition) ?? 0, offset + 1));
        const v = JSON.parse(message.value!.toString()) as { run: string; n: number };
        if (v.run !== run) return;
        if (!where.has(v.n)) where.set(v.n, new Set());
        where.get(v.n)!.add(`${partition}:${offset}`);
      },
    });
    const done = () => [...high].every(([p, h]) => (next.get(p) ?? 0) >= h);
    const start = Date.now();
    while (!done() && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    await admin.disconnect();
    expect(done(), 'read the topic to its end').toBe(true);

    const lost = [...acked].filter((n) => !where.has(n));
    const duplicated = [...where].filter(([, at]) => at.size > 1).map(([n]) => n);
    console.log(
      `read back ${where.size} distinct records: ${lost.length} acknowledged lost, ${duplicated.length} duplicated`,
    );
    expect(lost, `lost: ${lost.slice(0, 10).join(', ')}`).toEqual([]);
    expect(duplicated, `duplicated: ${duplicated.slice(0, 10).join(', ')}`).toEqual([]);

    // The broker comes back on its old storage and catches up into the ISR.
    await mesh.startKafkaBroker('seoul', victim);
    const check = createKafka({ brokers: info.bootstrap, clientId: 'test-isr' }).admin();
    await check.connect();
    const back = Date.now();
    let fullIsr = false;
    while (!fullIsr && Date.now() - back < 60_000) {
      const meta = await check.fetchTopicMetadata({ topics: [CHAT_TOPIC] });
      fullIsr = meta.topics[0]!.partitions.every((p) => p.isr.length === 3);
      if (!fullIsr) await new Promise((r) => setTimeout(r, 500));
    }
    await check.disconnect();
    expect(fullIsr, 'the restarted broker rejoined every ISR').toBe(true);
  });
});
