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
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [],
    isr: [],
    partitionErrorCode: 0,
  }));
  return defaultPartitioner({ topic, partitionMetadata, message: { key, value: null } });
}

/** How many times records of partitions that a send() skipped are sent again before giving up. */
const MAX_RESENDS = 5;

/**
 * The project's way to produce: idempotent, acks=all, keyed by room, and checked.
 *
 * Why checked: kafkajs 2.2.4 keeps the responses of a multi-broker `send()` per broker. When one
 * broker dies mid-send, its partitions move to a broker that already answered for its own
 * partitions, and the retry skips that broker: the send resolves although the moved partitions'
 * records were never written (measured here: 3 acknowledged records lost on a 3-broker cluster).
 * Those partitions are then missing from the send's result, so every send is checked partition by
 * partition and what was not acknowledged is sent again. One request per broker, not per partition:
 * the idempotent producer allows one request in flight per broker, so per-partition sends queue up.
 */
export class KeyedProducer {
  readonly producer: Producer;
  readonly #admin: Admin;
  readonly #partitions = new Map<string, number>();
  #connected = false;

  constructor(kafka: Kafka) {
    this.producer = createProducer(kafka);
    this.#admin = kafka.admin();
  }

  async connect(): Promise<void> {
    await Promise.all([this.producer.connect(), this.#admin.connect()]);
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
    let pending = messages.map((message) => {
      if (message.key === null || message.key === undefined)
        throw new Error(`KeyedProducer: every message needs a key (the room) on ${topic}`);
      return { ...message, partition: message.partition ?? partitionForKey(topic, message.key, count) };
    });
    const acknowledged: RecordMetadata[] = [];
    for (let resend = 0; ; resend++) {
      const results = await this.producer.send({ topic, acks: ACKS_ALL, messages: pending });
      const done = new Set<number>();
      for (const r of results) {
        if (r.topicName !== topic || r.errorCode !== 0) continue;
        done.add(r.partition);
        acknowledged.push(r);
      }
      // A partition's records travel in one request: all of them are acknowledged, or none.
      pending = pending.filter((m) => !done.has(m.partition));
      if (pending.length === 0) return acknowledged;
      if (resend >= MAX_RESENDS)
        throw new Error(
          `Kafka did not acknowledge ${pending.length} record(s) of ${topic} after ${MAX_RESENDS} resends`,
        );
      console.warn(
        `[kafka] ${topic}: partitions ${[...new Set(pending.map((m) => m.partition))].join(',')} were skipped by a send; sending again`,
      );
    }
  }

  async disconnect(): Promise<void> {
    this.#connected = false;
    await Promise.allSettled([this.producer.disconnect(), this.#admin.disconnect()]);
  }
}
