import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import {
  assertSha256,
  type ByteRange,
  type FileStore,
  type StagedBlob,
  type StageOptions,
} from './FileStore';
import { HashingFileSink } from './HashingFileSink';
import { HashWriters } from './HashWriters';

const STAGING_MAX_AGE_MS = 24 * 3600 * 1000;

/** Reads of a blob: large, so a download costs few reads and few socket writes. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Blobs as files under `root/blobs/ab/<sha256>`, staged in `root/staging/` (same filesystem, so a
 * commit is one rename). Staged bytes are hashed and written by worker threads (HashWriters): the
 * event loop only receives them. Staged files left by a crash are removed at open.
 */
export class FsFileStore implements FileStore {
  readonly kind = 'fs' as const;
  readonly #root: string;
  readonly #writers: HashWriters;

  private constructor(root: string, writers: number) {
    this.#root = root;
    this.#writers = new HashWriters(writers);
  }

  /** `writers`: worker threads hashing and writing staged files (default 2). */
  static async open(root: string, o: { writers?: number } = {}): Promise<FsFileStore> {
    await mkdir(join(root, 'staging'), { recursive: true });
    await mkdir(join(root, 'blobs'), { recursive: true });
    const store = new FsFileStore(root, o.writers ?? 2);
    await store.#sweepStaging();
    return store;
  }

  async stage(o: StageOptions = {}): Promise<StagedBlob> {
    const path = join(this.#root, 'staging', `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const sink = await HashingFileSink.create(this.#writers, path, { handOver: o.handOver ?? false });
    const done = finished(sink);
    done.catch(() => undefined);
    let settled = false;
    return {
      sink,
      finished: () => done,
      sha256: () => sink.sha256,
      commit: async (sha256) => {
        assertSha256(sha256);
        await done;
        settled = true;
        const dest = this.#path(sha256);
        await mkdir(join(dest, '..'), { recursive: true });
        // Same content already stored: keep the existing blob (files are stored once).
        if (await exists(dest)) await unlink(path);
        else await rename(path, dest);
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        sink.destroy();
        await done.catch(() => undefined);
        await rm(path, { force: true });
      },
    };
  }

  async size(sha256: string): Promise<number | undefined> {
    assertSha256(sha256);
    try {
      return (await stat(this.#path(sha256))).size;
    } catch {
      return undefined;
    }
  }

  async read(sha256: string, range?: ByteRange) {
    assertSha256(sha256);
    const stream = createReadStream(this.#path(sha256), {
      highWaterMark: READ_CHUNK_BYTES,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
    // Surface "not found" here rather than as a stream error after the response has started.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    await rm(this.#path(sha256), { force: true });
  }

  async close(): Promise<void> {
    await this.#writers.close();
  }

  #path(sha256: string): string {
    return join(this.#root, 'blobs', sha256.slice(0, 2), sha256);
  }

  async #sweepStaging(): Promise<void> {
    const dir = join(this.#root, 'staging');
    for (const name of await readdir(dir)) {
      const started = Number(name.split('-')[0]);
      if (!Number.isFinite(started) || Date.now() - started > STAGING_MAX_AGE_MS)
        await rm(join(dir, name), { force: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
