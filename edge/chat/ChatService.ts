import type { Cluster } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { newId } from '../../lib/ids';
import { CHAT_TOPIC, createConsumer, groupJoined, KeyedProducer, partitionForKey } from '../../lib/kafka';
import { roomKey } from '../../lib/redis';
import { ChatKind, type ChatMessage, Envelope } from '../../proto/gen/meetview/events/v1/events';
import { ErrorCode, SignalingError } from '../../proto/signaling/errors';
import type { ChatMessageInfo, FileOfferInfo } from '../../proto/signaling/messages';
import { ChatHistory, HISTORY_CAP, type SequencedMessage } from './ChatHistory';
import { ChatRelay, RELAYED_BY_HEADER } from './ChatRelay';
import { checkChatText } from './chatText';

export interface ChatSender {
  identity: string;
  name: string;
}

export interface ChatServiceOptions {
  region: string;
  node: string;
  /** Partitions of the chat topic: where a room's messages are produced and its history is rebuilt from. */
  partitions: number;
  /** Called for every new message of a room this edge hosts, in the room's order. */
  deliver: (room: string, message: SequencedMessage) => void;
  /** Whether this edge hosts the room now (only hosted rooms are cached and delivered). */
  hosts: (room: string) => boolean;
}

interface PendingSend {
  envelope: Envelope;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** How long a client's message id is remembered, so a retried send is acknowledged once. */
const CLIENT_ID_TTL_S = 600;
const MAX_BATCH = 500;
const RECENT_IDS_PER_ROOM = 2000;
const COMMIT_INTERVAL_MS = 1000;
/**
 * How long a send waits for others of its partition before an idle lane sends it (Kafka's linger.ms).
 * Without it an idle lane sends each message at once, and at moderate load requests of one or two messages
 * cost the edges and the broker more than the messages do. Measured in rooms of 10 at 5–20 msg/s per client
 * against no linger: edges −4 to −21 %, broker −16 to −31 % CPU, p50 +1 to +3 ms (bench/chat/README.md).
 */
const PRODUCE_LINGER_MS = 3;

/**
 * Chat through Kafka: a send is produced to the region's chat topic (keyed by room, idempotent
 * producer, acks=all) and acknowledged once Kafka has it; every edge consumes the topic (its own
 * consumer group) and delivers each message to the participants it hosts, in the partition's order,
 * caching it in the room's Redis history alongside. Sends made while a partition's request is in flight
 * share its next request. See README.md for the path of one message and the known limits.
 * Other regions' messages enter the same topic through the ChatRelay, so a room has one order here.
 */
export class ChatService {
  readonly #kafka: Kafka;
  readonly #redis: Cluster;
  readonly #history: ChatHistory;
  readonly #opts: ChatServiceOptions;
  readonly #producer: KeyedProducer;
  readonly #relay: ChatRelay;
  #consumer: Consumer;
  readonly #recentIds = new Map<string, Set<string>>();
  readonly #rebuilding = new Map<string, Promise<void>>();
  /** The history append in flight per room (delivered messages not yet in Redis). */
  readonly #appending = new Map<string, Promise<void>>();
  /**
   * Per hosted room: the last message this edge appended to its history (it appends every message of a room
   * it hosts); the next append checks it is still there, so a history Redis lost is rebuilt (ChatHistory).
   */
  readonly #witnesses = new Map<string, { messageId: string; seq: number }>();
  /** Sends waiting for their partition's next produce request. */
  readonly #queues = new Map<number, PendingSend[]>();
  readonly #flushing = new Set<number>();
  #closed = false;

  constructor(kafka: Kafka, redis: Cluster, opts: ChatServiceOptions) {
    this.#kafka = kafka;
    this.#redis = redis;
    this.#history = new ChatHistory(redis);
    this.#opts = opts;
    // A lane per partition: the rooms of different partitions do not queue behind each other's sends.
    this.#producer = new KeyedProducer(kafka, { lanes: opts.partitions });
    this.#consumer = createConsumer(kafka, { groupId: `meetview-edge-${opts.node}` });
    this.#relay = new ChatRelay(kafka, { region: opts.region, node: opts.node });
  }

  /** Brings the other regions' chat into this region's log (see ChatRelay). */
  get relay(): ChatRelay {
    return this.#relay;
  }

  /** Connects the producer and starts consuming; resolves once this edge's consumer has joined its group. */
  async start(): Promise<void> {
    await this.#producer.connect();
    await this.#runConsumer();
    await this.#relay.start();
  }

  async #runConsumer(): Promise<void> {
    const consumer = this.#consumer;
    await consumer.connect();
    const joined = groupJoined(consumer);
    // kafkajs restarts a crashed consumer only for retriable errors; after any other crash (e.g. no group
    // coordinator while a broker is down) this edge would stop delivering chat, so start a new one.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.#closed) return;
      console.error(`[chat] consumer crashed (${payload.error.message}); starting a new one`);
      setTimeout(() => void this.#replaceConsumer(), 1000).unref();
    });
    await consumer.subscribe({ topics: [CHAT_TOPIC], fromBeginning: false });
    await consumer.run({
      partitionsConsumedConcurrently: this.#opts.partitions,
      // kafkajs commits after every batch by default: a broker round trip per partition per batch, the
      // most frequent request under load. Once a second is enough: what a restart reads again is
      // dropped by seq (participants) and kept once by id (history).
      autoCommit: false,
      autoCommitInterval: COMMIT_INTERVAL_MS,
      eachBatch: (payload) => this.#onBatch(payload),
    });
    await joined;
  }

  async #replaceConsumer(): Promise<void> {
    if (this.#closed) return;
    await this.#consumer.disconnect().catch(() => undefined);
    this.#consumer = createConsumer(this.#kafka, { groupId: `meetview-edge-${this.#opts.node}` });
    try {
      await this.#runConsumer();
    } catch (err) {
      console.error(`[chat] consumer restart failed (${(err as Error).message}); retrying`);
      setTimeout(() => void this.#replaceConsumer(), 2000).unref();
    }
  }

  /** Validates and produces a participant's message; resolves with its id once Kafka has it. */
  async send(
    room: string,
    from: ChatSender,
    req: { text: string; to?: string; clientMessageId?: string },
  ): Promise<{ messageId: string; ts: number }> {
    const text = checkChatText(req.text);
    if (req.to !== undefined && req.to !== from.identity) {
      const present = await this.#redis.hexists(roomKey(room, 'participants'), req.to);
      if (!present) throw new SignalingError(ErrorCode.NotFound, `no participant "${req.to}" in this room`);
    }
    const messageId = newId();
    const ts = Date.now();
    let dedupeKey: string | undefined;
    if (req.clientMessageId) {
      // A retried send (same client id) gets the first send's answer and is not posted twice.
      dedupeKey = roomKey(
        room,
        'chat',
        'cmid',
        encodeURIComponent(from.identity),
        encodeURIComponent(req.clientMessageId),
      );
      const stored = await this.#redis.set(
        dedupeKey,
        JSON.stringify({ messageId, ts }),
        'EX',
        CLIENT_ID_TTL_S,
        'NX',
      );
      if (stored === null) {
        const prior = await this.#redis.get(dedupeKey);
        if (prior) return JSON.parse(prior) as { messageId: string; ts: number };
      }
    }
    const envelope = this.#envelope(room, messageId, ts, {
      from: { identity: from.identity, name: from.name, region: this.#opts.region, node: this.#opts.node },
      text,
      to: req.to ?? '',
      kind: ChatKind.CHAT_KIND_USER,
      clientMessageId: req.clientMessageId ?? '',
      file: undefined,
    });
    try {
      await this.#produce(envelope);
    } catch (err) {
      if (dedupeKey) await this.#redis.del(dedupeKey).catch(() => undefined);
      throw new SignalingError(
        ErrorCode.Unavailable,
        `the message was not stored: ${(err as Error).message}`,
      );
    }
    return { messageId, ts };
  }

  /**
   * A message written by the system (joined, left, file offered), on the same path as people's.
   * `file`: the shared file this message offers.
   */
  async system(room: string, about: ChatSender, text: string, file?: FileOfferInfo): Promise<string> {
    const messageId = newId();
    const from = {
      identity: about.identity,
      name: about.name,
      region: this.#opts.region,
      node: this.#opts.node,
    };
    await this.#produce(
      this.#envelope(room, messageId, Date.now(), {
        from,
        text,
        to: '',
        kind: ChatKind.CHAT_KIND_SYSTEM,
        clientMessageId: '',
        file: file
          ? {
              fileId: file.id,
              name: file.name,
              size: file.size,
              contentType: file.type,
              sha256: file.sha256,
              from,
            }
          : undefined,
      }),
    );
    return messageId;
  }

  /**
   * The room's messages after `afterMessageId` (the newest `limit` when it is unknown or absent),
   * rebuilding the Redis cache from Kafka first if it was lost.
   */
  async recent(room: string, afterMessageId: string | undefined, limit = 50): Promise<SequencedMessage[]> {
    await this.#appending.get(room);
    const kept = await this.#history.read(room, afterMessageId, limit);
    if (kept) return kept;
    await this.ensureHistory(room);
    return (await this.#history.read(room, afterMessageId, limit)) ?? [];
  }

  /** Rebuilds a room's history from its Kafka partition when Redis does not have it. */
  async ensureHistory(room: string): Promise<void> {
    if (await this.#history.isBuilt(room)) return;
    let pending = this.#rebuilding.get(room);
    if (!pending) {
      pending = this.#rebuild(room).finally(() => this.#rebuilding.delete(room));
      this.#rebuilding.set(room, pending);
    }
    await pending;
  }

  /** The room is no longer hosted here: what was kept to deliver it (and witness its history) goes. */
  release(room: string): void {
    this.#recentIds.delete(room);
    this.#witnesses.delete(room);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#relay.close();
    await this.#consumer.disconnect().catch(() => undefined);
    await this.#producer.disconnect().catch(() => undefined);
  }

  // ---- internals ---------------------------------------------------------------------------------

  #envelope(room: string, id: string, ts: number, chat: ChatMessage): Envelope {
    return {
      id,
      room,
      originRegion: this.#opts.region,
      originNode: this.#opts.node,
      tsMs: ts,
      payload: { $case: 'chat', value: chat },
    };
  }

  #produce(envelope: Envelope): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('chat service is closed'));
    // The partition the history rebuild reads the room from (#rebuild).
    const partition = partitionForKey(CHAT_TOPIC, envelope.room, this.#opts.partitions);
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(partition);
      if (!queue) {
        queue = [];
        this.#queues.set(partition, queue);
      }
      queue.push({ envelope, resolve, reject });
      if (this.#flushing.has(partition)) return;
      this.#flushing.add(partition);
      setTimeout(() => void this.#flush(partition, queue), PRODUCE_LINGER_MS);
    });
  }

  // One produce request per partition at a time (its lane of the idempotent producer allows one in
  // flight); sends that arrive meanwhile (or while the first lingers) go together in one request.
  async #flush(partition: number, queue: PendingSend[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH);
      try {
        await this.#producer.send(
          CHAT_TOPIC,
          batch.map(({ envelope }) => ({
            key: envelope.room,
            partition,
            value: Buffer.from(Envelope.encode(envelope).finish()),
            timestamp: String(envelope.tsMs),
          })),
        );
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.#flushing.delete(partition);
  }

  async #onBatch({
    batch,
    heartbeat,
    resolveOffset,
    commitOffsetsIfNecessary,
  }: EachBatchPayload): Promise<void> {
    const byRoom = new Map<string, { hosted: boolean; messages: SequencedMessage[] }>();
    for (const record of batch.messages) {
      const decoded = this.#decode(record.value, Number(record.offset));
      if (!decoded) continue;
      const { message, originNode } = decoded;
      let entry = byRoom.get(message.room);
      if (!entry) {
        entry = { hosted: this.#opts.hosts(message.room), messages: [] };
        byRoom.set(message.room, entry);
        // An edge that does not host the room neither delivers nor appends all of it: nothing to remember.
        if (!entry.hosted) this.release(message.room);
      }
      if (entry.hosted) {
        if (this.#seen(message)) continue;
      } else {
        // A room nobody here is in is kept by the edges that host it; a message this edge wrote into the
        // log (its own, or one it relayed from another region) is kept by it too, for the rooms that may
        // have no host in the region (a file offered before its sharer joined, the last "left", a remote
        // message).
        const writer = record.headers?.[RELAYED_BY_HEADER]?.toString() ?? originNode;
        if (writer !== this.#opts.node) continue;
      }
      entry.messages.push(message);
    }
    // Deliver at once and cache alongside. A participant who joins here meanwhile either is in the room
    // already (and gets the message live) or reads the history after this append (recent() waits for it),
    // so no message falls between the two.
    const appends: Promise<void>[] = [];
    for (const [room, { hosted, messages }] of byRoom) {
      if (messages.length === 0) continue;
      const last = messages.at(-1)!;
      const append = (this.#appending.get(room) ?? Promise.resolve())
        .then(async () => {
          const lost = await this.#history.append(
            room,
            messages,
            hosted ? this.#witnesses.get(room) : undefined,
          );
          if (lost)
            console.error(`[chat] Redis lost history of ${room}; it is rebuilt from Kafka at the next read`);
        })
        .catch((err: Error) => console.error(`[chat] history append for ${room} failed: ${err.message}`))
        .finally(() => {
          // Also after a failed append: if those messages are not in Redis, the next append finds it out.
          if (hosted && this.#opts.hosts(room))
            this.#witnesses.set(room, { messageId: last.messageId, seq: last.seq });
          if (this.#appending.get(room) === append) this.#appending.delete(room);
        });
      this.#appending.set(room, append);
      for (const m of messages) this.#opts.deliver(room, m);
      appends.push(append);
    }
    // The batch's offsets are committed only once its messages are in the history.
    await Promise.all(appends);
    resolveOffset(batch.lastOffset());
    await commitOffsetsIfNecessary();
    await heartbeat();
  }

  #decode(value: Buffer | null, seq: number): { message: SequencedMessage; originNode: string } | undefined {
    if (!value) return undefined;
    let env: Envelope;
    try {
      env = Envelope.decode(value);
    } catch {
      console.error('[chat] skipped a record that is not an envelope');
      return undefined;
    }
    if (env.payload?.$case !== 'chat') return undefined;
    const chat = env.payload.value;
    const info: ChatMessageInfo = {
      messageId: env.id,
      room: env.room,
      from: { identity: chat.from?.identity ?? '', name: chat.from?.name ?? '' },
      text: chat.text,
      ts: env.tsMs,
      kind: chat.kind === ChatKind.CHAT_KIND_SYSTEM ? 'system' : 'user',
      ...(chat.to ? { to: chat.to } : {}),
      ...(chat.file
        ? {
            file: {
              id: chat.file.fileId,
              name: chat.file.name,
              size: chat.file.size,
              type: chat.file.contentType,
              sha256: chat.file.sha256,
            },
          }
        : {}),
    };
    return { message: { ...info, seq }, originNode: env.originNode };
  }

  // Drops a message this edge has already handled (a redelivery after a rebalance or restart).
  #seen(m: SequencedMessage): boolean {
    let ids = this.#recentIds.get(m.room);
    if (!ids) {
      ids = new Set();
      this.#recentIds.set(m.room, ids);
    }
    if (ids.has(m.messageId)) return true;
    ids.add(m.messageId);
    if (ids.size > RECENT_IDS_PER_ROOM) ids.delete(ids.values().next().value!);
    return false;
  }

  async #rebuild(room: string): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const partition = partitionForKey(CHAT_TOPIC, room, this.#opts.partitions);
      const offsets = await admin.fetchTopicOffsets(CHAT_TOPIC);
      const p = offsets.find((o) => o.partition === partition);
      const low = Number(p?.low ?? 0);
      const high = Number(p?.high ?? 0);
      const kept: SequencedMessage[] = [];
      if (high > low) {
        const reader = this.#kafka.consumer({
          groupId: `meetview-rebuild-${this.#opts.node}-${newId()}`,
          maxWaitTimeInMs: 50,
        });
        await reader.connect();
        try {
          await reader.subscribe({ topic: CHAT_TOPIC, fromBeginning: true });
          await new Promise<void>((resolve, reject) => {
            reader
              .run({
                eachBatch: async ({ batch }) => {
                  if (batch.partition !== partition) return;
                  for (const record of batch.messages) {
                    const offset = Number(record.offset);
                    if (offset >= high) break;
                    const m =
                      record.key?.toString() === room
                        ? this.#decode(record.value, offset)?.message
                        : undefined;
                    if (m) {
                      kept.push(m);
                      if (kept.length > HISTORY_CAP) kept.shift();
                    }
                  }
                  if (Number(batch.lastOffset()) >= high - 1) resolve();
                },
              })
              .catch(reject);
          });
        } finally {
          await reader.disconnect().catch(() => undefined);
        }
      }
      await this.#history.append(room, kept);
      await this.#history.markBuilt(room);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
