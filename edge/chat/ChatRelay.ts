import type { Admin, Consumer, EachBatchPayload, Kafka, Message } from 'kafkajs';
import { CHAT_TOPIC, createConsumer, groupJoined, KeyedProducer, parseMirroredTopic } from '../../lib/kafka';
import { Envelope } from '../../proto/gen/meetview/events/v1/events';

export interface ChatRelayOptions {
  region: string;
  node: string;
  /** How often the mirrored chat topics are listed again (a region added to the mesh). */
  rediscoverMs?: number;
}

/** One consumer group per region: each mirrored partition is relayed by one edge of the region. */
export const RELAY_GROUP = 'meetview-chat-relay';

/**
 * Header of a relayed record: the node that wrote the copy here. That edge keeps the message in the
 * room's history even when nobody is in the room on it, as an edge does with the messages it wrote itself.
 */
export const RELAYED_BY_HEADER = 'meetview-relayed-by';

/**
 * Brings other regions' chat into this region's own `chat` topic, so that a room's messages from every
 * region share one partition here: one order per room that every edge of the region delivers and caches
 * alike, and one log to rebuild the history from.
 *
 * MirrorMaker 2 copies region S's `chat` here as `S.chat`. The relay takes from it only the records that
 * S's own edges wrote (envelope origin S): the others are copies S relayed from elsewhere, which reach
 * this region through their own origin's mirror. That also keeps a record from travelling back to where
 * it came from. The record is written unchanged (same envelope id, key, timestamp; a header names the
 * relaying node, see RELAYED_BY_HEADER); offsets are committed after Kafka has the copy, so a crash
 * re-sends at most the last batch, and those copies are dropped by envelope id like any other duplicate.
 * The source's order is kept: one send per batch of one partition.
 */
export class ChatRelay {
  readonly #kafka: Kafka;
  readonly #opts: ChatRelayOptions;
  readonly #producer: KeyedProducer;
  readonly #admin: Admin;
  #consumer: Consumer | undefined;
  #topics: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Records written here from other regions (for tests and metrics). */
  relayed = 0;

  constructor(kafka: Kafka, opts: ChatRelayOptions) {
    this.#kafka = kafka;
    this.#opts = opts;
    this.#producer = new KeyedProducer(kafka);
    this.#admin = kafka.admin();
  }

  /** The mirrored chat topics being relayed (`<region>.chat`). */
  get topics(): readonly string[] {
    return this.#topics;
  }

  /** Starts relaying the mirrored chat topics that exist now; looks for new ones every `rediscoverMs`. */
  async start(): Promise<void> {
    await Promise.all([this.#producer.connect(), this.#admin.connect()]);
    await this.#refresh();
    this.#timer = setInterval(() => {
      this.#refresh().catch((err: Error) =>
        console.error(`[chat-relay] topic refresh failed: ${err.message}`),
      );
    }, this.#opts.rediscoverMs ?? 30_000);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#consumer?.disconnect().catch(() => undefined);
    await this.#producer.disconnect();
    await this.#admin.disconnect().catch(() => undefined);
  }

  async #refresh(): Promise<void> {
    const topics = (await this.#admin.listTopics())
      .filter((name) => {
        const m = parseMirroredTopic(name);
        return m !== null && m.topic === CHAT_TOPIC && m.source !== this.#opts.region;
      })
      .sort();
    if (this.#closed || topics.join() === this.#topics.join()) return;
    this.#topics = topics;
    // A running kafkajs consumer cannot add topics: a new set gets a new consumer (same group, so it
    // resumes from the committed offsets).
    await this.#consumer?.disconnect().catch(() => undefined);
    this.#consumer = undefined;
    if (topics.length > 0) await this.#run(topics);
  }

  async #run(topics: string[]): Promise<void> {
    const consumer = createConsumer(this.#kafka, { groupId: RELAY_GROUP });
    this.#consumer = consumer;
    await consumer.connect();
    const joined = groupJoined(consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.#closed || this.#consumer !== consumer) return;
      console.error(`[chat-relay] consumer crashed (${payload.error.message}); starting a new one`);
      this.#topics = [];
      setTimeout(() => {
        this.#refresh().catch((err: Error) => console.error(`[chat-relay] restart failed: ${err.message}`));
      }, 1000).unref();
    });
    // A new group starts at the beginning of the mirrors: the history of rooms that began before this
    // region's first edge came up is brought in too (duplicates are dropped by envelope id).
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    await joined;
  }

  async #onBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    const source = parseMirroredTopic(batch.topic)?.source;
    const copies: Message[] = [];
    for (const record of batch.messages) {
      if (!record.value || !record.key) continue;
      let origin: string;
      try {
        origin = Envelope.decode(record.value).originRegion;
      } catch {
        console.error(`[chat-relay] skipped a record of ${batch.topic} that is not an envelope`);
        continue;
      }
      if (origin !== source) continue;
      copies.push({
        key: record.key,
        value: record.value,
        timestamp: record.timestamp,
        headers: { [RELAYED_BY_HEADER]: this.#opts.node },
      });
    }
    // Throwing here leaves the batch uncommitted: kafkajs fetches it again and it is sent again.
    await this.#producer.send(CHAT_TOPIC, copies);
    this.relayed += copies.length;
    await heartbeat();
  }
}
