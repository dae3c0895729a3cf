import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';
import type { ChatMessageInfo } from '../../proto/signaling/messages';

/** A chat message with its position in the room's log (the Kafka offset of its record). */
export interface SequencedMessage extends ChatMessageInfo {
  seq: number;
}

/** Messages kept per room in Redis for a fast join; older ones stay in Kafka. */
export const HISTORY_CAP = 200;

/**
 * The recent chat of a room, in the region's Redis Cluster: a sorted set scored by the message's
 * offset in the room's Kafka partition, so order is the log's order and re-adding a message (another
 * edge, a redelivery, a rebuild) changes nothing. A marker records that the set was built, so an empty
 * set is told apart from a lost one, which is rebuilt from Kafka.
 */
export class ChatHistory {
  readonly #redis: Cluster;

  constructor(redis: Cluster) {
    this.#redis = redis;
  }

  async append(room: string, messages: readonly SequencedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const key = roomKey(room, 'chat');
    const args: (string | number)[] = [];
    for (const m of messages) args.push(m.seq, JSON.stringify(m));
    await this.#redis
      .multi()
      .zadd(key, 'NX', ...args)
      .zremrangebyrank(key, 0, -(HISTORY_CAP + 1))
      .set(roomKey(room, 'chat', 'built'), '1', 'NX')
      .exec();
  }

  /** Whether the room's history exists in Redis (false after a loss, or for a room never seen). */
  async isBuilt(room: string): Promise<boolean> {
    return (await this.#redis.exists(roomKey(room, 'chat', 'built'))) === 1;
  }

  async markBuilt(room: string): Promise<void> {
    await this.#redis.set(roomKey(room, 'chat', 'built'), '1');
  }

  /** Messages with seq > afterSeq (all kept ones when undefined), oldest first, at most `limit` newest. */
  async after(room: string, afterSeq: number | undefined, limit = 50): Promise<SequencedMessage[]> {
    const min = afterSeq === undefined ? '-inf' : `(${afterSeq}`;
    // The newest `limit` after the position: read newest-first, then reverse.
    const raw = await this.#redis.zrevrangebyscore(roomKey(room, 'chat'), '+inf', min, 'LIMIT', 0, limit);
    return raw.map((r) => JSON.parse(r) as SequencedMessage).reverse();
  }

  /** The seq of a message id among the kept messages, if it is still there. */
  async seqOf(room: string, messageId: string): Promise<number | undefined> {
    const raw = await this.#redis.zrange(roomKey(room, 'chat'), 0, -1);
    for (const r of raw) {
      const m = JSON.parse(r) as SequencedMessage;
      if (m.messageId === messageId) return m.seq;
    }
    return undefined;
  }
}
