import type { Readable, Writable } from 'node:stream';

/** An inclusive byte range, as in HTTP Range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Bytes being written before their SHA-256 is known. The writer streams into `sink`, then either
 * commits (the bytes become the blob named by their hash; a blob already there is kept and the staged
 * copy dropped) or aborts (everything staged is removed).
 */
export interface StagedBlob {
  readonly sink: Writable;
  /** Resolves once everything written to `sink` is durable in the staging area (after sink.end()). */
  finished(): Promise<void>;
  commit(sha256: string): Promise<void>;
  abort(): Promise<void>;
  /**
   * Present when the store hashes the staged bytes itself (off the event loop): the SHA-256 (hex) of
   * everything written, once finished() has resolved. The writer need not hash them again.
   */
  readonly sha256?: () => string;
}

export interface StageOptions {
  /**
   * The writer hands its chunks over: it will not read them again once written, so the store may
   * move them elsewhere instead of copying (they may be empty afterwards).
   */
  handOver?: boolean;
}

/**
 * Where file bytes live, content-addressed by SHA-256 (hex). One interface, two backends: the local
 * filesystem (FsFileStore) and S3-compatible object storage (S3FileStore).
 */
export interface FileStore {
  readonly kind: 'fs' | 's3';
  stage(o?: StageOptions): Promise<StagedBlob>;
  /** The stored size of a blob, or undefined when it is not here. */
  size(sha256: string): Promise<number | undefined>;
  /** A stream of a blob's bytes (a slice of them with `range`). */
  read(sha256: string, range?: ByteRange): Promise<Readable>;
  delete(sha256: string): Promise<void>;
  close(): Promise<void>;
}

export function assertSha256(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256 hex digest: "${sha256}"`);
}
