import type { Admin, Consumer, Kafka } from 'kafkajs';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { createConsumer } from '../../lib/kafka';
import { Envelope } from '../../proto/gen/meetview/events/v1/events';
import {
  decodePosition,
  encodePosition,
  PositionError,
  type PositionVector,
  topicPartition,
} from './Positions';

export interface FeedRecord {
  envelope: Envelope;
  /** "topic/partition" */
  tp: string;
  offset: number;
  /** Resume right after this record. */
  position: string;
}

export type EventFeedEvents = {
  /** A new room event (duplicates from producer retries or mirroring already dropped). */
  record: [FeedRecord];
  /** The consumer reached the end of the log as it was when the feed started. */
  caughtup: [];
  error: [Error];
};

export interface EventFeedOptions {
  /** The mirrored room-event topics, e.g. seoul.room-events, frankfurt.room-events. */
  topics: string[];
  /** Records kept for WatchEvents replay (older positions are refused as too old). */
  capacity?: number;
  /** Unique per process: each core process reads the whole log to rebuild its directory. */
  groupId: string;
  /** How long to wait for MirrorMaker 2 to create the mirrored topics. */
  topicWaitMs?: number;
}

/**
 * Reads every region's room events from the core Kafka (the topics MirrorMaker 2 mirrors there), from
 * the beginning, in one consumer; keeps the most recent ones for replay and emits each new one. The
 * order it emits is one merge of the partitions; positions (see Positions.ts) make resuming exact.
 */
export class EventFeed extends TypedEmitter<EventFeedEvents> {
  readonly #kafka: Kafka;
  readonly #opts: Required<EventFeedOptions>;
  readonly #vector: PositionVector = new Map();
  /** Highest offset per partition dropped from the buffer: positions before it cannot be replayed. */
  readonly #dropped: PositionVector = new Map();
  #records: FeedRecord[] = [];
  readonly #seen = new Set<string>();
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;
  #caughtUp = false;
  #closed = false;

  constructor(kafka: Kafka, options: EventFeedOptions) {
    super();
    this.#kafka = kafka;
    this.#opts = { capacity: 200_000, topicWaitMs: 60_000, ...options };
  }

  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** The position right after the newest record: "from now". */
  get position(): string {
    return encodePosition(this.#vector);
  }

  get bufferedRecords(): number {
    return this.#records.length;
  }

  /** Connects and starts consuming; resolves once caught up with the log as it was at the start. */
  async start(): Promise<void> {
    const admin = this.#kafka.admin();
    this.#admin = admin;
    await admin.connect();
    await this.#waitForTopics(admin);
    const ends = new Map<string, number>();
    for (const topic of this.#opts.topics)
      for (const p of await admin.fetchTopicOffsets(topic))
        if (Number(p.high) > Number(p.low)) ends.set(topicPartition(topic, p.partition), Number(p.high) - 1);
    const caughtUp = new Promise<void>((resolve) => this.once('caughtup', resolve));
    this.#ends = ends;
    this.#checkCaughtUp();
    const consumer = createConsumer(this.#kafka, { groupId: this.#opts.groupId, maxWaitTimeInMs: 20 });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart)
        this.safeEmit('error', new Error(`room-event consumer crashed: ${e.payload.error.message}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.#opts.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat }) => {
        for (const m of batch.messages) this.#ingest(batch.topic, batch.partition, Number(m.offset), m.value);
        // A batch of only duplicates emits nothing: let the catch-up check see the advanced offsets.
        this.#checkCaughtUp();
        await heartbeat();
      },
    });
    await caughtUp;
  }

  #ends = new Map<string, number>();

  #checkCaughtUp(): void {
    if (this.#caughtUp) return;
    for (const [tp, last] of this.#ends) if ((this.#vector.get(tp) ?? -1) < last) return;
    this.#caughtUp = true;
    this.safeEmit('caughtup');
  }

  /**
   * The buffered records after `position` (all of them for the room filter's caller to narrow). Throws
   * PositionError for a malformed position or one older than the buffer.
   */
  replayAfter(position: string): FeedRecord[] {
    const vector = decodePosition(position);
    for (const [tp, dropped] of this.#dropped)
      if ((vector.get(tp) ?? -1) < dropped)
        throw new PositionError(
          'the position is older than the events this server keeps; start from now (no position)',
        );
    return this.#records.filter((r) => r.offset > (vector.get(r.tp) ?? -1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#consumer?.disconnect().catch(() => undefined);
    await this.#admin?.disconnect().catch(() => undefined);
    this.removeAllListeners();
  }

  #ingest(topic: string, partition: number, offset: number, value: Buffer | null): void {
    const tp = topicPartition(topic, partition);
    if (offset <= (this.#vector.get(tp) ?? -1)) return; // redelivered after a rebalance
    this.#vector.set(tp, offset);
    if (!value) return;
    let envelope: Envelope;
    try {
      envelope = Envelope.decode(value);
    } catch (err) {
      console.error(`[core] ${tp}@${offset}: not a room-event envelope (${(err as Error).message}); skipped`);
      return;
    }
    if (envelope.payload?.$case !== 'roomEvent' || this.#seen.has(envelope.id)) return;
    const record: FeedRecord = { envelope, tp, offset, position: encodePosition(this.#vector) };
    this.#records.push(record);
    this.#seen.add(envelope.id);
    if (this.#records.length > this.#opts.capacity * 1.25) this.#trim();
    this.safeEmit('record', record);
  }

  #trim(): void {
    const drop = this.#records.length - this.#opts.capacity;
    for (const r of this.#records.slice(0, drop)) {
      this.#seen.delete(r.envelope.id);
      this.#dropped.set(r.tp, Math.max(this.#dropped.get(r.tp) ?? -1, r.offset));
    }
    this.#records = this.#records.slice(drop);
  }

  async #waitForTopics(admin: Admin): Promise<void> {
    const deadline = Date.now() + this.#opts.topicWaitMs;
    for (;;) {
      const existing = new Set(await admin.listTopics());
      const missing = this.#opts.topics.filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `the core Kafka has no ${missing.join(', ')} after ${this.#opts.topicWaitMs} ms: is MirrorMaker 2 mirroring the regions into the core?`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
