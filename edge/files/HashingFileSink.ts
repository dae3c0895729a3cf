import { Writable } from 'node:stream';
import type { HashWriterEvent, HashWriters } from './HashWriters';

/** Bytes gathered before they go to the worker as one message and one pwritev. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes of one file sent to its worker and not yet written; beyond it, writes wait (backpressure). */
const FILE_WINDOW_BYTES = 4 * 1024 * 1024;
/** The same for all files together: with many uploads at once, each keeps at most one batch going. */
const POOL_WINDOW_BYTES = 8 * 1024 * 1024;

export interface HashingFileSinkOptions {
  /**
   * The writer gives its chunks away: one that alone spans its whole ArrayBuffer (as HTTP request
   * bodies and fs reads arrive) is moved to the worker, not copied, and is empty afterwards.
   */
  handOver: boolean;
}

/**
 * A Writable whose bytes are hashed (SHA-256) and written to a new file by a HashWriters worker, off
 * the event loop. 'finish' comes once the file is complete and closed; then `sha256` is its hash.
 * destroy() before that stops the worker's writing and closes the file (the caller removes it).
 */
export class HashingFileSink extends Writable {
  readonly #pool: HashWriters;
  readonly #handOver: boolean;
  readonly #file: ReturnType<HashWriters['add']>;
  #batch: Uint8Array[] = [];
  #transfer: ArrayBuffer[] = [];
  #batchBytes = 0;
  #inFlight = 0;
  #waiting: ((err?: Error | null) => void) | undefined;
  #state: 'opening' | 'open' | 'ending' | 'closed' = 'opening';
  #failure: Error | undefined;
  #sha256: string | undefined;
  /** Called with the next report that ends a phase: opened, ended, aborted, failed. */
  #settle: ((err?: Error) => void) | undefined;

  private constructor(pool: HashWriters, o: HashingFileSinkOptions) {
    super({ highWaterMark: 128 * 1024 });
    this.#pool = pool;
    this.#handOver = o.handOver;
    this.#file = pool.add((e) => this.#onEvent(e));
  }

  /** A sink writing the new file `path` (created exclusively; an existing file is an error). */
  static async create(pool: HashWriters, path: string, o: HashingFileSinkOptions): Promise<HashingFileSink> {
    const sink = new HashingFileSink(pool, o);
    await new Promise<void>((resolve, reject) => {
      sink.#settle = (err) => (err ? reject(err) : resolve());
      sink.#file.worker.postMessage({ type: 'open', id: sink.#file.id, path });
    }).catch((err) => {
      sink.#state = 'closed';
      sink.#file.release();
      throw err;
    });
    sink.#state = 'open';
    return sink;
  }

  /** The SHA-256 (hex) of everything written, once the sink has finished. */
  get sha256(): string {
    if (this.#sha256 === undefined) throw new Error('the file is not complete yet');
    return this.#sha256;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#accept(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (let i = 0; i < chunks.length - 1; i++) this.#add(chunks[i]!.chunk);
    this.#accept(chunks[chunks.length - 1]!.chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#failure) {
      cb(this.#failure);
      return;
    }
    this.#post();
    this.#state = 'ending';
    this.#settle = (err) => cb(err ?? null);
    this.#file.worker.postMessage({ type: 'end', id: this.#file.id });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#batch = [];
    this.#transfer = [];
    this.#waiting = undefined;
    if (this.#state === 'closed') {
      cb(err);
      return;
    }
    // Whether ending or not, wait for the worker to close the file, so the caller may remove it.
    const settle = this.#settle;
    this.#settle = (e) => {
      settle?.(e);
      cb(err ?? e ?? null);
    };
    if (this.#state === 'open') this.#file.worker.postMessage({ type: 'abort', id: this.#file.id });
    this.#state = 'ending';
  }

  #accept(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.#failure) {
      cb(this.#failure);
      return;
    }
    this.#add(chunk);
    if (this.#blocked()) this.#waiting = cb;
    else cb();
  }

  #add(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const buffer = chunk.buffer;
    const whole =
      this.#handOver &&
      buffer instanceof ArrayBuffer &&
      chunk.byteOffset === 0 &&
      chunk.byteLength === buffer.byteLength &&
      !this.#transfer.includes(buffer);
    // Otherwise one copy here, which is then moved (the message itself does not copy it again).
    const view = whole ? chunk : new Uint8Array(chunk);
    this.#batch.push(view);
    this.#transfer.push(view.buffer as ArrayBuffer);
    this.#batchBytes += view.byteLength;
    if (this.#batchBytes >= BATCH_BYTES) this.#post();
  }

  #post(): void {
    if (this.#batchBytes === 0) return;
    const bytes = this.#batchBytes;
    this.#file.worker.postMessage(
      { type: 'write', id: this.#file.id, chunks: this.#batch, bytes },
      this.#transfer,
    );
    this.#batch = [];
    this.#transfer = [];
    this.#batchBytes = 0;
    this.#inFlight += bytes;
    this.#pool.inFlight += bytes;
  }

  #blocked(): boolean {
    return (
      this.#inFlight + this.#batchBytes >= FILE_WINDOW_BYTES ||
      (this.#inFlight > 0 && this.#pool.inFlight >= POOL_WINDOW_BYTES)
    );
  }

  #onEvent(e: HashWriterEvent): void {
    switch (e.type) {
      case 'written': {
        this.#inFlight -= e.bytes;
        this.#pool.inFlight -= e.bytes;
        const waiting = this.#waiting;
        if (waiting && !this.#blocked()) {
          this.#waiting = undefined;
          waiting();
        }
        return;
      }
      case 'opened':
        this.#finishPhase();
        return;
      case 'ended':
        this.#sha256 = e.sha256;
        this.#close();
        this.#finishPhase();
        return;
      case 'aborted':
        this.#close();
        this.#finishPhase();
        return;
      case 'failed': {
        const err = new Error(`writing the staged file failed: ${e.message}`);
        this.#failure ??= err;
        const was = this.#state;
        const waiting = this.#waiting;
        this.#waiting = undefined;
        // A worker that reports a failure has closed the file (or never opened it).
        this.#close();
        this.#finishPhase(err);
        // While writing, the stream fails at once (otherwise an open, an end or an abort was waiting).
        if (was === 'open') {
          if (waiting) waiting(err);
          else if (!this.destroyed) this.destroy(err);
        }
        return;
      }
    }
  }

  #close(): void {
    this.#state = 'closed';
    this.#pool.inFlight -= this.#inFlight;
    this.#inFlight = 0;
    this.#file.release();
  }

  #finishPhase(err?: Error): void {
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.(err);
  }
}
