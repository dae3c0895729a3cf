import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';
import { FileError } from './FileError';
import { type FileMeta, FileMetaSchema } from './FileMeta';

export interface FileQuotas {
  /** Per participant in a room. */
  participant: { count: number; bytes: number };
  /** Per room. */
  room: { count: number; bytes: number };
  /** Uploads a participant may start per minute. */
  uploadsPerMinute: number;
}

/** Rooms with files, scored by their last file's time, for the retention sweep (not room-tagged). */
const ROOMS_KEY = 'files:rooms';

/**
 * The region's file metadata and usage counters in Redis, all of one room's keys in its slot:
 * `room:{r}:file:<id>` (JSON), `room:{r}:files` (ids by time), `room:{r}:files:usage` (counts and
 * bytes of the room and of each uploader), `room:{r}:files:rate:<identity>` (uploads this minute).
 * A blob's references across rooms are `files:blob:{<sha256>}` so a blob goes when its last file does.
 */
export class FileCatalog {
  readonly #redis: Cluster;
  readonly #quotas: FileQuotas;
  readonly #region: string;

  /** Usage counts only this region's uploads (each region's quotas hold for what it stores first). */
  constructor(redis: Cluster, quotas: FileQuotas, region: string) {
    this.#redis = redis;
    this.#quotas = quotas;
    this.#region = region;
  }

  get quotas(): FileQuotas {
    return this.#quotas;
  }

  /**
   * Checks the upload rate and count quotas before an upload starts, and returns how many bytes the
   * participant and the room still have.
   */
  async admit(room: string, identity: string): Promise<number> {
    // A window of one minute from the participant's first upload in it.
    const rateKey = roomKey(room, 'files', 'rate', encodeURIComponent(identity));
    const [, [, started]] = (await this.#redis
      .multi()
      .set(rateKey, 0, 'EX', 60, 'NX')
      .incr(rateKey)
      .exec()) as [unknown, [unknown, number]];
    if (started > this.#quotas.uploadsPerMinute)
      throw new FileError(
        'RATE_LIMITED',
        `too many uploads: at most ${this.#quotas.uploadsPerMinute} a minute; try again shortly`,
      );
    const usage = await this.#usage(room, identity);
    if (usage.count >= this.#quotas.participant.count)
      throw new FileError('QUOTA_EXCEEDED', `you have shared ${usage.count} files here, the most allowed`);
    if (usage.roomCount >= this.#quotas.room.count)
      throw new FileError('QUOTA_EXCEEDED', `this room holds ${usage.roomCount} files, the most allowed`);
    const left = Math.min(
      this.#quotas.participant.bytes - usage.bytes,
      this.#quotas.room.bytes - usage.roomBytes,
    );
    if (left <= 0) throw new FileError('QUOTA_EXCEEDED', 'your or the room’s storage quota is used up');
    return left;
  }

  /** Records a new file (this region's upload, or an offer from another region). Idempotent by id. */
  async put(meta: FileMeta): Promise<void> {
    const key = roomKey(meta.room, 'file', meta.id);
    const created = await this.#redis.set(key, JSON.stringify(meta), 'NX');
    if (created === null) return;
    const tx = this.#redis.multi().zadd(roomKey(meta.room, 'files'), meta.ts, meta.id);
    if (meta.region === this.#region) {
      const usage = roomKey(meta.room, 'files', 'usage');
      const who = encodeURIComponent(meta.from.identity);
      tx.hincrby(usage, 'count', 1)
        .hincrby(usage, 'bytes', meta.size)
        .hincrby(usage, `c:${who}`, 1)
        .hincrby(usage, `b:${who}`, meta.size);
    }
    await tx.exec();
    await this.#redis.sadd(blobKey(meta.sha256), `${meta.room}/${meta.id}`);
    await this.#redis.zadd(ROOMS_KEY, meta.ts, meta.room);
  }

  async get(room: string, id: string): Promise<FileMeta | undefined> {
    const raw = await this.#redis.get(roomKey(room, 'file', id));
    if (!raw) return undefined;
    return FileMetaSchema.parse(JSON.parse(raw));
  }

  async list(room: string, limit = 200): Promise<FileMeta[]> {
    const ids = await this.#redis.zrange(roomKey(room, 'files'), -limit, -1);
    const metas = await Promise.all(ids.map((id) => this.get(room, id)));
    return metas.filter((m): m is FileMeta => m !== undefined);
  }

  /**
   * Removes a file's metadata; returns whether its blob has no other file referring to it (so the
   * caller deletes the bytes), or undefined when the file was not here.
   */
  async remove(room: string, id: string): Promise<{ meta: FileMeta; lastReference: boolean } | undefined> {
    const meta = await this.get(room, id);
    if (!meta) return undefined;
    const removed = await this.#redis.del(roomKey(room, 'file', id));
    if (removed === 0) return undefined;
    const usage = roomKey(room, 'files', 'usage');
    const who = encodeURIComponent(meta.from.identity);
    const counted = meta.region === this.#region;
    const tx = this.#redis.multi().zrem(roomKey(room, 'files'), id);
    if (counted)
      tx.hincrby(usage, 'count', -1)
        .hincrby(usage, 'bytes', -meta.size)
        .hincrby(usage, `c:${who}`, -1)
        .hincrby(usage, `b:${who}`, -meta.size);
    await tx.exec();
    await this.#redis.srem(blobKey(meta.sha256), `${room}/${id}`);
    const left = await this.#redis.scard(blobKey(meta.sha256));
    return { meta, lastReference: left === 0 };
  }

  /** A resumable upload's session (kept a day). */
  async putUpload(room: string, uploadId: string, session: string): Promise<void> {
    await this.#redis.set(roomKey(room, 'files', 'upload', uploadId), session, 'EX', 24 * 3600);
  }

  getUpload(room: string, uploadId: string): Promise<string | null> {
    return this.#redis.get(roomKey(room, 'files', 'upload', uploadId));
  }

  async removeUpload(room: string, uploadId: string): Promise<void> {
    await this.#redis.del(roomKey(room, 'files', 'upload', uploadId));
  }

  /** Rooms whose newest file is older than `beforeTs`. */
  async staleRooms(beforeTs: number, limit = 100): Promise<string[]> {
    return this.#redis.zrangebyscore(ROOMS_KEY, 0, beforeTs, 'LIMIT', 0, limit);
  }

  async forgetRoom(room: string): Promise<void> {
    await this.#redis.zrem(ROOMS_KEY, room);
    await this.#redis.del(roomKey(room, 'files'), roomKey(room, 'files', 'usage'));
  }

  async touchRoom(room: string): Promise<void> {
    await this.#redis.zadd(ROOMS_KEY, Date.now(), room);
  }

  async #usage(room: string, identity: string) {
    const who = encodeURIComponent(identity);
    const [count, bytes, roomCount, roomBytes] = await this.#redis.hmget(
      roomKey(room, 'files', 'usage'),
      `c:${who}`,
      `b:${who}`,
      'count',
      'bytes',
    );
    return {
      count: Number(count ?? 0),
      bytes: Number(bytes ?? 0),
      roomCount: Number(roomCount ?? 0),
      roomBytes: Number(roomBytes ?? 0),
    };
  }
}

function blobKey(sha256: string): string {
  return `files:blob:{${sha256}}`;
}
