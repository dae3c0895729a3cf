import { Worker } from 'node:worker_threads';

// The worker's code: plain JavaScript beside this file (see there).
const WORKER_URL = new URL('./hashWriter.worker.mjs', import.meta.url);

/** What a worker reports about one file. */
export type HashWriterEvent =
  | { id: number; type: 'opened' | 'aborted' }
  | { id: number; type: 'written'; bytes: number }
  | { id: number; type: 'ended'; sha256: string; size: number }
  | { id: number; type: 'failed'; message: string };

/** One file being written by a worker: where its reports go, and how much of it is on its way. */
export interface HashWriterFile {
  readonly id: number;
  readonly worker: Worker;
  onEvent: (e: HashWriterEvent) => void;
}

/**
 * A few worker threads that hash and write files (used by FsFileStore's staging). Files are spread
 * over the workers by how many each has open; `inFlight` counts the bytes sent to all workers and not
 * written yet, so the sinks can bound them together.
 */
export class HashWriters {
  readonly #slots: Slot[] = [];
  readonly #files = new Map<number, HashWriterFile & { slot: Slot }>();
  #nextId = 1;
  #closed = false;
  inFlight = 0;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const slot = { worker: undefined as unknown as Worker, open: 0 };
      this.#spawn(slot);
      this.#slots.push(slot);
    }
  }

  /** Registers a file on the least busy worker; `release` once its last report has come. */
  add(onEvent: (e: HashWriterEvent) => void): HashWriterFile & { release: () => void } {
    if (this.#closed) throw new Error('the hashing workers are closed');
    const slot = this.#slots.reduce((a, b) => (b.open < a.open ? b : a));
    slot.open++;
    const file = { id: this.#nextId++, worker: slot.worker, onEvent, slot };
    this.#files.set(file.id, file);
    let released = false;
    return Object.assign(file, {
      release: () => {
        if (released) return;
        released = true;
        slot.open--;
        this.#files.delete(file.id);
      },
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #spawn(slot: Slot): void {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    slot.worker = worker;
    worker.on('message', (e: HashWriterEvent) => this.#files.get(e.id)?.onEvent(e));
    worker.on('error', (err) => console.error(`[files] hashing worker failed: ${err.stack ?? err}`));
    let online = false;
    worker.once('online', () => {
      online = true;
    });
    worker.on('exit', () => {
      // Its files cannot complete; later ones go to a new worker in its place (not after a failed start).
      for (const f of [...this.#files.values()])
        if (f.worker === worker)
          f.onEvent({ id: f.id, type: 'failed', message: 'the hashing worker exited' });
      if (!this.#closed && online) this.#spawn(slot);
    });
  }
}

interface Slot {
  worker: Worker;
  open: number;
}
