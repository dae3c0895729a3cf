import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { createConsumer, mirroredTopic, ROOM_EVENTS_TOPIC } from '../../lib/kafka';
import { Envelope } from '../../proto/gen/meetview/events/v1/events';
import { RemoteRoomState } from './RemoteRoomState';

export interface RemoteRoomFeedOptions {
  /** This edge's region: its own `room-events` is read only with `ownRegion`. */
  region: string;
  node: string;
  /** The other regions (the catalogue's): their mirrored `<region>.room-events` are read. */
  sources: readonly string[];
  /** How often topics that do not exist yet are looked for again (MirrorMaker 2 creates them). */
  discoverMs?: number;
  /**
   * Also read this region's own `room-events` (every other edge of the region but this node): with
   * placement 'local' the edges of a region share rooms and learn each other's participants from it.
   */
  ownRegion?: boolean;
}

export type RemoteRoomFeedEvents = {
  /** A room's remote participants or tracks changed (after the source caught up; see below). */
  changed: [room: string];
  /** One source region's log has been read up to where it was when its consumer started. */
  caughtup: [source: string];
};

/** One mirrored topic's consumer and how far it is from the end it had when it started. */
type SourceReader = {
  source: string;
  topic: string;
  consumer: Consumer;
  /** Partition → the high watermark at start; removed once consumed up to it. */
  behind: Map<number, number>;
  caughtUp: boolean;
  /** Rooms changed while catching up: told once, at the end, so a replay does not flicker. */
  touched: Set<string>;
};

/**
 * Keeps a per-edge fold (RemoteRoomState) of every other region's room events, read from the topics
 * MirrorMaker 2 mirrors here (`<region>.room-events`): one consumer per source region, each in a group
 * of its own (every edge needs every partition), from the beginning of retention. With `ownRegion`,
 * also the region's own `room-events`, where the other edges of the region write (placement 'local').
 *
 * Why a fold of everything rather than reading one room's partition when the room opens here: the fold
 * holds only who is present now, so it is small; the log is read once per edge start instead of once
 * per room opened (each room's partition holds a sixth of all rooms' history); and a room's remote
 * state is already there on its first local join, with no wait for a read from the start of retention.
 *
 * While a source is catching up, its changes are folded silently; then 'changed' is emitted once per
 * room it touched. After that, every change is emitted as it is folded.
 */
export class RemoteRoomFeed extends TypedEmitter<RemoteRoomFeedEvents> {
  readonly state: RemoteRoomState;
  readonly #kafka: Kafka;
  readonly #opts: RemoteRoomFeedOptions;
  readonly #admin: Admin;
  readonly #readers = new Map<string, SourceReader>();
  readonly #starting = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(kafka: Kafka, opts: RemoteRoomFeedOptions) {
    super();
    this.#kafka = kafka;
    this.#opts = opts;
    this.state = new RemoteRoomState(opts.region, opts.ownRegion ? { localNode: opts.node } : {});
    this.#admin = kafka.admin();
  }

  /** Source regions whose log has been read up to its end at start. */
  get caughtUp(): string[] {
    return [...this.#readers.values()].filter((r) => r.caughtUp).map((r) => r.source);
  }

  /**
   * Starts reading the mirrored topics that exist now and looks for the others every `discoverMs`
   * (a region that is not running has no mirror yet). Does not wait for any catch-up.
   */
  async start(): Promise<void> {
    await this.#admin.connect();
    await this.#discover();
    this.#timer = setInterval(() => {
      this.#discover().catch((err: Error) => console.error(`[room-state] topic discovery: ${err.message}`));
    }, this.#opts.discoverMs ?? 2000);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#readers.values()].map((r) => r.consumer.disconnect()));
    this.#readers.clear();
    await this.#admin.disconnect().catch(() => undefined);
  }

  /** The topic a source region's events are read from here: its mirror, or for this region its own. */
  #topicOf(source: string): string {
    return source === this.#opts.region ? ROOM_EVENTS_TOPIC : mirroredTopic(source, ROOM_EVENTS_TOPIC);
  }

  async #discover(): Promise<void> {
    const sources = this.#opts.sources.filter((s) => s !== this.#opts.region);
    if (this.#opts.ownRegion) sources.push(this.#opts.region);
    const missing = sources.filter((s) => !this.#readers.has(s) && !this.#starting.has(s));
    if (missing.length === 0 || this.#closed) {
      if (missing.length === 0) clearInterval(this.#timer);
      return;
    }
    const existing = new Set(await this.#admin.listTopics());
    for (const source of missing) {
      const topic = this.#topicOf(source);
      if (!existing.has(topic)) continue;
      this.#starting.add(source);
      try {
        await this.#read(source, topic);
      } catch (err) {
        console.error(`[room-state] reading ${topic} failed to start: ${(err as Error).message}`);
      } finally {
        this.#starting.delete(source);
      }
    }
  }

  async #read(source: string, topic: string): Promise<void> {
    const offsets = await this.#admin.fetchTopicOffsets(topic);
    const behind = new Map<number, number>();
    for (const o of offsets) if (Number(o.high) > Number(o.low)) behind.set(o.partition, Number(o.high));
    // A group of its own per edge and start: every edge reads every partition from the beginning.
    const groupId = `meetview-room-state-${this.#opts.node}-${randomBytes(4).toString('hex')}`;
    const consumer = createConsumer(this.#kafka, { groupId });
    const reader: SourceReader = { source, topic, consumer, behind, caughtUp: false, touched: new Set() };
    await consumer.connect();
    if (this.#closed) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    this.#readers.set(source, reader);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.#closed || this.#readers.get(source) !== reader) return;
      // A new reader reads the log again; the fold drops what it has already seen by envelope id, and a
      // re-read is silent until it catches up, so no room flickers.
      console.error(`[room-state] ${topic} consumer crashed (${payload.error.message}); reading it again`);
      this.#readers.delete(source);
      void consumer.disconnect().catch(() => undefined);
      setTimeout(() => void this.#discover().catch(() => undefined), 1000).unref();
    });
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: (payload) => this.#onBatch(reader, payload) });
    this.#checkCaughtUp(reader);
  }

  async #onBatch(reader: SourceReader, { batch }: EachBatchPayload): Promise<void> {
    for (const record of batch.messages) {
      if (!record.value) continue;
      let envelope: Envelope;
      try {
        envelope = Envelope.decode(record.value);
      } catch {
        console.error(`[room-state] skipped a record of ${batch.topic} that is not an envelope`);
        continue;
      }
      const room = this.state.apply(envelope);
      if (!room) continue;
      if (reader.caughtUp) this.safeEmit('changed', room);
      else reader.touched.add(room);
    }
    const last = batch.messages.at(-1);
    const end = reader.behind.get(batch.partition);
    if (last && end !== undefined && Number(last.offset) + 1 >= end) reader.behind.delete(batch.partition);
    this.#checkCaughtUp(reader);
  }

  #checkCaughtUp(reader: SourceReader): void {
    if (reader.caughtUp || reader.behind.size > 0) return;
    reader.caughtUp = true;
    for (const room of reader.touched) this.safeEmit('changed', room);
    reader.touched.clear();
    this.safeEmit('caughtup', reader.source);
  }
}
