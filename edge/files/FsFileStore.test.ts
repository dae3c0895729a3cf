import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsFileStore } from './FsFileStore';

// Staging through the hashing worker threads: the hash, the bytes, their order, aborts, failures.
let root: string;
let store: FsFileStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fsstore-'));
  store = await FsFileStore.open(root, { writers: 2 });
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Chunks of every kind a writer hands over: whole buffers, pooled small ones, slices of a larger one. */
function mixedChunks(total: number): Buffer[] {
  const chunks: Buffer[] = [];
  let n = 0;
  let i = 0;
  while (n < total) {
    const size = Math.min(total - n, [65_536, 17, 3000, 1_000_003, 4096][i++ % 5]!);
    const kind = i % 3;
    const c =
      kind === 0
        ? randomBytes(size)
        : kind === 1
          ? Buffer.from(randomBytes(size + 10).subarray(5, 5 + size))
          : randomBytes(size + 100).subarray(50, 50 + size);
    chunks.push(c);
    n += size;
  }
  return chunks;
}

describe('FsFileStore staging', () => {
  it('hashes and stores the bytes in order; handed-over whole buffers are moved, slices copied', async () => {
    const chunks = mixedChunks(24 * 1024 * 1024 + 12_345);
    const expected = Buffer.concat(chunks);
    const whole = chunks.find((c) => c.byteOffset === 0 && c.byteLength === c.buffer.byteLength)!;
    const slice = chunks.find((c) => c.byteOffset > 0)!;
    const sliceCopy = Buffer.from(slice);

    const staged = await store.stage({ handOver: true });
    await pipeline(Readable.from(chunks), staged.sink);
    await staged.finished();
    expect(staged.sha256!()).toBe(sha(expected));
    await staged.commit(staged.sha256!());

    const back = await store.read(sha(expected));
    const got = Buffer.concat(await back.toArray());
    expect(got.equals(expected)).toBe(true);
    expect(whole.byteLength).toBe(0);
    expect(slice.equals(sliceCopy)).toBe(true);
    expect(await readdir(join(root, 'staging'))).toEqual([]);
  });

  it('leaves the writer’s chunks alone without handOver', async () => {
    const chunks = [randomBytes(2 * 1024 * 1024), randomBytes(65_536)];
    const copies = chunks.map((c) => Buffer.from(c));
    const staged = await store.stage();
    await pipeline(Readable.from(chunks), staged.sink);
    await staged.finished();
    expect(staged.sha256!()).toBe(sha(Buffer.concat(copies)));
    expect(chunks.every((c, i) => c.equals(copies[i]!))).toBe(true);
    await staged.abort();
  });

  it('removes what was staged when aborted halfway', async () => {
    const staged = await store.stage({ handOver: true });
    for (let i = 0; i < 12; i++) {
      if (!staged.sink.write(randomBytes(1024 * 1024)))
        await new Promise((r) => staged.sink.once('drain', r));
    }
    await staged.abort();
    expect(await readdir(join(root, 'staging'))).toEqual([]);
  });

  it('keeps many files at once apart, each with its own hash', async () => {
    const files = Array.from({ length: 12 }, (_, i) => randomBytes(3 * 1024 * 1024 + i));
    const hashes = await Promise.all(
      files.map(async (f) => {
        const staged = await store.stage({ handOver: true });
        const parts = [f.subarray(0, 1_000_000), f.subarray(1_000_000)].map((p) => Buffer.from(p));
        await pipeline(Readable.from(parts), staged.sink);
        await staged.finished();
        const h = staged.sha256!();
        await staged.commit(h);
        return h;
      }),
    );
    expect(hashes).toEqual(files.map(sha));
    for (const f of files)
      expect((await readFile(join(root, 'blobs', sha(f).slice(0, 2), sha(f)))).equals(f)).toBe(true);
  });

  it('fails the stage when the staged file cannot be created', async () => {
    await rm(join(root, 'staging'), { recursive: true });
    await expect(store.stage()).rejects.toThrow(/ENOENT/);
  });
});
