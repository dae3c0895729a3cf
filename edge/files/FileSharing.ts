import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import type { Kafka } from 'kafkajs';
import type { InternalTokens } from '../../lib/auth/internal';
import { roomKey } from '../../lib/redis';
import { FileCatalog } from './FileCatalog';
import { FileOfferLog } from './FileOfferLog';
import { FileService, type OfferPoster } from './FileService';
import type { FileStore } from './FileStore';
import { FsFileStore } from './FsFileStore';
import type { FilesConfig } from './filesConfig';
import { RemoteFiles } from './RemoteFiles';
import { S3FileStore } from './S3FileStore';

const UPLOAD_MAX_AGE_MS = 24 * 3600 * 1000;

export interface FileSharingDeps {
  config: FilesConfig;
  region: string;
  node: string;
  redis: Cluster;
  kafka: Kafka;
  internalTokens: InternalTokens;
  postOffer: OfferPoster;
}

/**
 * File sharing on one edge: owns the store, the offer log and the retention sweep, and exposes the
 * FileService the HTTP routes use. close() stops them all.
 */
export class FileSharing {
  readonly service: FileService;
  readonly internalTokens: InternalTokens;
  readonly #store: FileStore;
  readonly #offers: FileOfferLog;
  readonly #catalog: FileCatalog;
  readonly #redis: Cluster;
  readonly #retentionMs: number;
  readonly #uploadsDir: string;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(deps: FileSharingDeps, store: FileStore, offers: FileOfferLog) {
    this.#store = store;
    this.#offers = offers;
    this.#redis = deps.redis;
    this.#retentionMs = deps.config.retentionMs;
    this.#uploadsDir = deps.config.uploadsDir;
    this.internalTokens = deps.internalTokens;
    this.#catalog = new FileCatalog(deps.redis, deps.config.quotas, deps.region);
    this.service = new FileService({
      region: deps.region,
      node: deps.node,
      store,
      catalog: this.#catalog,
      offers,
      remote: new RemoteFiles(deps.config.peers, deps.internalTokens, deps.node),
      postOffer: deps.postOffer,
      maxBytes: deps.config.maxBytes,
      uploadsDir: deps.config.uploadsDir,
    });
  }

  static async start(deps: FileSharingDeps): Promise<FileSharing> {
    const b = deps.config.backend;
    const store: FileStore = b.kind === 's3' ? await S3FileStore.open(b) : await FsFileStore.open(b.dir);
    const offers = new FileOfferLog(deps.kafka, deps.region, deps.node);
    const sharing = new FileSharing(deps, store, offers);
    try {
      await offers.start((meta) => sharing.#catalog.put(meta));
    } catch (err) {
      await offers.close();
      await store.close();
      throw err;
    }
    const every = Math.min(60_000, Math.max(1000, sharing.#retentionMs / 10));
    sharing.#sweep = setInterval(() => void sharing.sweep().catch(() => undefined), every);
    sharing.#sweep.unref();
    return sharing;
  }

  /**
   * Deletes the files of rooms that have had nobody in them for the retention time. A room with
   * people in it is marked as seen now; one whose newest mark is older than the retention goes.
   */
  async sweep(now = Date.now()): Promise<string[]> {
    await this.#sweepUploads(now);
    const expired: string[] = [];
    for (const room of await this.#catalog.staleRooms(now - this.#retentionMs, 500)) {
      const present = await this.#redis.hlen(roomKey(room, 'participants'));
      if (present > 0) {
        await this.#catalog.touchRoom(room);
        continue;
      }
      for (const meta of await this.#catalog.list(room, 10_000)) await this.service.forget(room, meta.id);
      await this.#catalog.forgetRoom(room);
      expired.push(room);
    }
    return expired;
  }

  // Resumable uploads nobody finished: their sessions expire in Redis after a day, their bytes here.
  async #sweepUploads(now: number): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(this.#uploadsDir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(this.#uploadsDir, name);
      const s = await stat(path).catch(() => undefined);
      if (s && now - s.mtimeMs > UPLOAD_MAX_AGE_MS) await rm(path, { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#offers.close();
    await this.#store.close();
  }
}
