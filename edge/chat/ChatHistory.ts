import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';
import type { ChatMessageInfo } from '../../proto/signaling/messages';

/** A chat message with its position in the room's log (the Kafka offset of its record). */
export interface SequencedMessage extends ChatMessageInfo {
  seq: number;
}

/** Messages kept per room in Redis for a fast join; older ones stay in Kafka. */
export const HISTORY_CAP = 200;

// KEYS: order (zset id → seq), bodies (hash id → json), built marker. ARGV: cap, then (seq, id, json)…
// A message id already kept is not added again, whatever its seq: a copy of one message may come back
// at another offset (a relay or MirrorMaker 2 retrying), and the first position wins.
const APPEND_LUA = `
local added = 0
for i = 2, #ARGV, 3 do
  if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    added = added + 1
  end
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('SET', KEYS[3], '1', 'NX')
return added
`;

type AppendCommand = (
  order: string,
  bodies: string,
  built: string,
  ...args: (string | number)[]
) => Promise<number>;

/**
 * The recent chat of a room, in the region's Redis Cluster: the message ids in a sorted set scored by
 * the message's offset in the room's Kafka partition (so order is the log's order), their bodies in a
 * hash. Both keys and the marker share the room's slot, so one script keeps them consistent. A message
 * id is kept once, however often it is appended (another edge, a redelivery, a rebuild, a relayed copy).
 * The marker records that the set was built, so an empty set is told apart from a lost one, which is
 * rebuilt from Kafka.
 */
export class ChatHistory {
  readonly #redis: Cluster;
  readonly #append: AppendCommand;

  constructor(redis: Cluster) {
    this.#redis = redis;
    redis.defineCommand('meetviewChatAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    const commands = redis as unknown as { meetviewChatAppend: AppendCommand };
    this.#append = commands.meetviewChatAppend.bind(redis);
  }

  async append(room: string, messages: readonly SequencedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const args: (string | number)[] = [HISTORY_CAP];
    for (const m of messages) args.push(m.seq, m.messageId, JSON.stringify(m));
    await this.#append(
      roomKey(room, 'chat'),
      roomKey(room, 'chat', 'bodies'),
      roomKey(room, 'chat', 'built'),
      ...args,
    );
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
    const ids = await this.#redis.zrevrangebyscore(roomKey(room, 'chat'), '+inf', min, 'LIMIT', 0, limit);
    if (ids.length === 0) return [];
    const bodies = await this.#redis.hmget(roomKey(room, 'chat', 'bodies'), ...ids);
    const messages: SequencedMessage[] = [];
    for (const body of bodies) if (body !== null) messages.push(JSON.parse(body) as SequencedMessage);
    return messages.reverse();
  }

  /** The seq of a message id among the kept messages, if it is still there. */
  async seqOf(room: string, messageId: string): Promise<number | undefined> {
    const score = await this.#redis.zscore(roomKey(room, 'chat'), messageId);
    return score === null ? undefined : Number(score);
  }
}
