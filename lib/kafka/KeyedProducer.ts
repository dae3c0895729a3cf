import {
  type Admin,
  type Kafka,
  type Message,
  Partitioners,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { ACKS_ALL, createProducer } from './client';

const defaultPartitioner = Partitioners.DefaultPartitioner();

/**
 * The partition kafkajs' default (Java-compatible) partitioner gives a key in a topic of `partitions`
 * partitions: where a room's records go, and so where its history is read back from.
 */
export function partitionForKey(topic: string, key: string | Buffer, partitions: number): number {
  let byKey = partitionsByCount.get(partitions);
  if (!byKey) {
    byKey = new Map();
    partitionsByCount.set(partitions, byKey);
  }
  const name = typeof key === 'string' ? key : undefined;
  const known = name === undefined ? undefined : byKey.get(name);
  if (known !== undefined) return known;
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [],
    isr: [],
    partitionErrorCode: 0,
  }));
  const partition = defaultPartitioner({ topic, partitionMetadata, message: { key, value: null } });
  if (name !== undefined) {
    if (byKey.size >= KEYS_REMEMBERED) byKey.clear();
    byKey.set(name, partition);
  }
  return partition;
}

/**
 * Partitions of the keys seen lately, per partition count: this runs for every chat send, and kafkajs'
 * murmur2 does 64-bit arithmetic in objects (a few dozen allocations per key). Forgotten all at once
 * when full: a miss only costs one hash.
 */
const partitionsByCount = new Map<number, Map<string, number>>();
const KEYS_REMEMBERED = 100_000;

/**
 * The project's way to produce: idempotent, acks=all, keyed by room, one kafkajs `send()` per partition.
 *
 * Why per partition: kafkajs 2.2.4 keeps the responses of a multi-broker `send()` per broker. When one
 * broker dies mid-send, its partitions move to a broker that already answered for its own partitions,
 * and the retry skips that broker: the send resolves although the moved partitions' records were never
 * written (measured here: 3 acknowledged records lost on a 3-broker cluster). Sending those records again
 * from outside is no cure: they may have been written after all, and a new send() gives them new
 * sequence numbers (measured: 3 duplicates in the log). A send of one partition cannot be skipped that way:
 * measured 0 lost, 0 duplicated. Each result is still checked, so a skip could never pass silently.
 *
 * `lanes`: an idempotent kafkajs producer has one request in flight per broker, so the sends of several
 * partitions queue behind each other. With n lanes, n producers (each its own producer id and
 * connections) carry the partitions, partition p on lane p mod n: the partitions' sends go in parallel,
 * and one partition's records still go through one producer, in order.
 */
export class KeyedProducer {
  readonly #lanes: Producer[];
  readonly #admin: Admin;
  readonly #partitions = new Map<string, number>();
  #connected = false;

  constructor(kafka: Kafka, options: { lanes?: number } = {}) {
    const lanes = Math.max(1, Math.floor(options.lanes ?? 1));
    this.#lanes = Array.from({ length: lanes }, () => createProducer(kafka));
    this.#admin = kafka.admin();
  }

  async connect(): Promise<void> {
    await Promise.all([...this.#lanes.map((p) => p.connect()), this.#admin.connect()]);
    this.#connected = true;
  }

  async #partitionCount(topic: string): Promise<number> {
    let n = this.#partitions.get(topic);
    if (n === undefined) {
      const meta = await this.#admin.fetchTopicMetadata({ topics: [topic] });
      n = meta.topics[0]?.partitions.length ?? 0;
      if (n === 0) throw new Error(`topic ${topic} has no partitions (does it exist?)`);
      this.#partitions.set(topic, n);
    }
    return n;
  }

  /**
   * Sends keyed messages (key = room, so one room stays ordered) and resolves once every record is
   * acknowledged by all in-sync replicas. Messages of one partition keep their order.
   */
  async send(topic: string, messages: Message[]): Promise<RecordMetadata[]> {
    if (!this.#connected) throw new Error('KeyedProducer: connect() first');
    if (messages.length === 0) return [];
    const count = await this.#partitionCount(topic);
    const byPartition = new Map<number, Message[]>();
    for (const message of messages) {
      if (message.key === null || message.key === undefined)
        throw new Error(`KeyedProducer: every message needs a key (the room) on ${topic}`);
      const partition = message.partition ?? partitionForKey(topic, message.key, count);
      if (!byPartition.has(partition)) byPartition.set(partition, []);
      byPartition.get(partition)!.push({ ...message, partition });
    }
    const results = await Promise.all(
      [...byPartition].map(async ([partition, group]) => {
        const lane = this.#lanes[partition % this.#lanes.length]!;
        const acked = await lane.send({ topic, acks: ACKS_ALL, messages: group });
        if (!acked.some((r) => r.topicName === topic && r.partition === partition && r.errorCode === 0))
          throw new Error(`Kafka did not acknowledge ${group.length} record(s) of ${topic}/${partition}`);
        return acked;
      }),
    );
    return results.flat();
  }

  async disconnect(): Promise<void> {
    this.#connected = false;
    await Promise.allSettled([...this.#lanes.map((p) => p.disconnect()), this.#admin.disconnect()]);
  }
}
