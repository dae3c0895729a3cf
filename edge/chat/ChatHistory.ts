import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';
import type { ChatMessageInfo } from '../../proto/signaling/messages';

/** A chat message with its position in the room's log (the Kafka offset of its record). */
export interface SequencedMessage extends ChatMessageInfo {
  seq: number;
}

/** Messages kept per room in Redis for a fast join; older ones stay in Kafka. */
export const HISTORY_CAP = 200;

// KEYS: order (zset id → seq), bodies (hash id → json), built marker. ARGV: cap, witness id and seq, then
// (seq, id, json)…
// A message id already kept is not added again, whatever its seq: a copy of one message may come back
// at another offset (a relay or MirrorMaker 2 retrying), and the first position wins.
// The witness is the last message the appending edge put here before ('' if none): when it is gone, and not
// because the cap trimmed it (the oldest kept is older), Redis lost (part of) this history, and the marker
// is removed so that the next read rebuilds it from Kafka. The marker is set only by the append that
// creates the history (a new room); a history without it had a loss and waits for the rebuild.
// Returns 1 when a loss was found.
const APPEND_LUA = `
local lost = 0
if ARGV[2] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[2]) == false then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #oldest == 0 or tonumber(oldest[2]) <= tonumber(ARGV[3]) then
    lost = 1
    redis.call('DEL', KEYS[3])
  end
end
local new = redis.call('EXISTS', KEYS[1]) == 0
for i = 4, #ARGV, 3 do
  if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
  end
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
end
if new and lost == 0 then redis.call('SET', KEYS[3], '1', 'NX') end
return lost
`;

// KEYS: order, bodies, built marker. ARGV: the id to read after ('' for none), limit. Returns false when
// the history is not built; else the bodies of the newest `limit` messages after the id (all kept ones when
// the id is '' or no longer kept), newest first. One round trip for a join's history.
const READ_LUA = `
if redis.call('EXISTS', KEYS[3]) == 0 then return false end
local min = '-inf'
if ARGV[1] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if score then min = '(' .. score end
end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', min, 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`;

type ReadCommand = (
  order: string,
  bodies: string,
  built: string,
  afterId: string,
  limit: number,
) => Promise<(string | null)[] | null>;

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
  readonly #read: ReadCommand;

  constructor(redis: Cluster) {
    this.#redis = redis;
    redis.defineCommand('meetviewChatAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    redis.defineCommand('meetviewChatRead', { numberOfKeys: 3, lua: READ_LUA });
    const commands = redis as unknown as { meetviewChatAppend: AppendCommand; meetviewChatRead: ReadCommand };
    this.#append = commands.meetviewChatAppend.bind(redis);
    this.#read = commands.meetviewChatRead.bind(redis);
  }

  /**
   * Adds messages (kept once per id, capped). `witness`: the last message this caller appended to the room
   * before, so that a history Redis lost since is found out (it is then rebuilt at the next read).
   * Resolves true when it was.
   */
  async append(
    room: string,
    messages: readonly SequencedMessage[],
    witness?: { messageId: string; seq: number },
  ): Promise<boolean> {
    if (messages.length === 0) return false;
    const args: (string | number)[] = [HISTORY_CAP, witness?.messageId ?? '', witness?.seq ?? -1];
    for (const m of messages) args.push(m.seq, m.messageId, JSON.stringify(m));
    const lost = await this.#append(
      roomKey(room, 'chat'),
      roomKey(room, 'chat', 'bodies'),
      roomKey(room, 'chat', 'built'),
      ...args,
    );
    return lost === 1;
  }

  /** Whether the room's history exists in Redis (false after a loss, or for a room never seen). */
  async isBuilt(room: string): Promise<boolean> {
    return (await this.#redis.exists(roomKey(room, 'chat', 'built'))) === 1;
  }

  async markBuilt(room: string): Promise<void> {
    await this.#redis.set(roomKey(room, 'chat', 'built'), '1');
  }

  /**
   * The newest `limit` messages after `afterMessageId` (all kept ones when it is absent or no longer kept),
   * oldest first; null when the history is not built (never, or lost with Redis).
   */
  async read(
    room: string,
    afterMessageId: string | undefined,
    limit = 50,
  ): Promise<SequencedMessage[] | null> {
    const bodies = await this.#read(
      roomKey(room, 'chat'),
      roomKey(room, 'chat', 'bodies'),
      roomKey(room, 'chat', 'built'),
      afterMessageId ?? '',
      limit,
    );
    if (bodies === null) return null;
    const messages: SequencedMessage[] = [];
    for (const body of bodies) if (body !== null) messages.push(JSON.parse(body) as SequencedMessage);
    return messages.reverse();
  }
}
