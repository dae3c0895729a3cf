import { Worker } from 'node:worker_threads';

// Plain JavaScript run in worker threads (no TypeScript loader needed there). Each worker keeps open
// files: it hashes every batch it receives (SHA-256, in arrival order) and writes it at its position
// with one pwritev through libuv's pool, so the hashing of one batch overlaps the writing of the last.
// Hashing costs as much CPU as the whole network receive; here it stays off the event loop.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const files = new Map();
const post = (m) => parentPort.postMessage(m);
function settle(id, f) {
  if (!f.closing || f.pending > 0) return;
  files.delete(id);
  fs.close(f.fd, (err) => {
    if (f.error || err) post({ id, type: 'failed', message: f.error || err.message });
    else if (f.closing === 'end') post({ id, type: 'ended', sha256: f.hash.digest('hex'), size: f.pos });
    else post({ id, type: 'aborted' });
  });
}
parentPort.on('message', (m) => {
  if (m.type === 'open') {
    fs.open(m.path, 'wx', (err, fd) => {
      if (err) return post({ id: m.id, type: 'failed', message: err.message });
      files.set(m.id, { fd, hash: createHash('sha256'), pos: 0, pending: 0, closing: null, error: null });
      post({ id: m.id, type: 'opened' });
    });
    return;
  }
  const f = files.get(m.id);
  if (!f) return;
  if (m.type === 'write') {
    if (f.error || f.closing) return post({ id: m.id, type: 'written', bytes: m.bytes });
    for (const c of m.chunks) f.hash.update(c);
    f.pending++;
    fs.writev(f.fd, m.chunks, f.pos, (err, written) => {
      f.pending--;
      if (!f.error && (err || written !== m.bytes))
        f.error = err ? err.message : 'short write (' + written + ' of ' + m.bytes + ' bytes)';
      // The buffers go back to be dropped on the event loop's side, whose frequent collections free
      // them soon; this thread allocates little, so here they would wait long for a collection.
      const back = m.chunks.map((c) => c.buffer);
      parentPort.postMessage({ id: m.id, type: 'written', bytes: m.bytes }, back);
      settle(m.id, f);
    });
    f.pos += m.bytes;
  } else if (m.type === 'end' || m.type === 'abort') {
    f.closing = m.type;
    settle(m.id, f);
  }
});
`;

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
    const worker = new Worker(SOURCE, { eval: true });
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
