import { Worker } from 'node:worker_threads';
import type { FromWorker, LoadCounters, LoadWorkerData, SystemName, ToWorker } from './loadProtocol';
import { sleep, until } from './pool';

/** All threads' counters, and their samples in ms, sorted ascending. */
export interface LoadResult extends LoadCounters {
  latencies: Float64Array;
  acks: Float64Array;
  errors: Map<string, number>;
}

type ThreadResult = Extract<FromWorker, { type: 'result' }>;

interface Thread {
  worker: Worker;
  status: (LoadCounters & { warm: number; sending: boolean }) | undefined;
  result: ThreadResult | undefined;
  failure: string | undefined;
  connected: boolean;
}

/**
 * The W clients of one run, spread over `threads` worker threads (client g on thread g mod threads),
 * each thread a LoadWorker. Owns the threads: close() ends them, whatever state the run is in.
 */
export class LoadGenerator {
  readonly #threads: Thread[];
  readonly #W: number;

  private constructor(threads: Thread[], W: number) {
    this.#threads = threads;
    this.#W = W;
  }

  /** Starts the threads and connects every client (each joins its room); rejects if one cannot. */
  static async connect(opts: {
    system: SystemName;
    urls: string[];
    W: number;
    S: number;
    tag: string;
    threads: number;
  }): Promise<LoadGenerator> {
    const threads: Thread[] = [];
    for (let t = 0; t < opts.threads; t++) {
      const indices: number[] = [];
      for (let g = t; g < opts.W; g += opts.threads) indices.push(g);
      const data: LoadWorkerData = {
        system: opts.system,
        urls: opts.urls,
        indices,
        W: opts.W,
        S: opts.S,
        tag: opts.tag,
      };
      const thread: Thread = {
        worker: new Worker(new URL('./loadWorker.mjs', import.meta.url), { workerData: data }),
        status: undefined,
        result: undefined,
        failure: undefined,
        connected: false,
      };
      thread.worker.on('message', (m: FromWorker) => LoadGenerator.#onMessage(thread, m));
      thread.worker.on('error', (err) => {
        thread.failure = `load thread ${t}: ${err.message}`;
      });
      threads.push(thread);
    }
    const gen = new LoadGenerator(threads, opts.W);
    try {
      gen.#post({ type: 'connect' });
      await gen.#wait(() => threads.every((t) => t.connected), 120_000, 'clients connected');
    } catch (err) {
      await gen.close();
      throw err;
    }
    return gen;
  }

  static #onMessage(thread: Thread, m: FromWorker): void {
    switch (m.type) {
      case 'connected':
        thread.connected = true;
        break;
      case 'failed':
        thread.failure = m.message;
        break;
      case 'status':
        thread.status = m;
        break;
      case 'result':
        thread.result = m;
        break;
    }
  }

  /** One message per room reaches all its members (consumer groups settled, sockets hot). */
  async warm(): Promise<void> {
    this.#post({ type: 'warm' });
    await this.#wait(
      () => this.#sum((s) => s.warm) >= this.#W,
      90_000,
      `warm-up messages reached all ${this.#W} members`,
    );
  }

  /**
   * Every client sends `rate` msg/s from `t0` (wall-clock ms) for `seconds`; resolves once the threads
   * stopped sending and every send was answered (or `drainMs` passed).
   */
  async send(rate: number, t0: number, seconds: number, drainMs: number): Promise<void> {
    this.#post({ type: 'start', rate, t0, endAt: t0 + seconds * 1000 });
    await sleep(seconds * 1000);
    await this.#wait(
      () => this.#threads.every((t) => t.status && !t.status.sending),
      30_000,
      'sending ended',
    );
    await until(() => this.#sum((s) => s.acked + s.failed) >= this.#sum((s) => s.sent), drainMs);
  }

  /** Waits until `expected` deliveries were counted (or `drainMs` passed). */
  async drain(expected: number, drainMs: number): Promise<void> {
    await until(() => this.#sum((s) => s.delivered) >= expected, drainMs);
  }

  /** Acknowledged sends so far, over all threads. */
  acked(): number {
    return this.#sum((s) => s.acked);
  }

  /** Collects every thread's counters and samples, then closes the clients. */
  async finish(): Promise<LoadResult> {
    this.#post({ type: 'finish' });
    await this.#wait(() => this.#threads.every((t) => t.result), 30_000, 'results collected');
    const results = this.#threads.map((t) => t.result!);
    const total = (f: (r: ThreadResult) => number) => results.reduce((n, r) => n + f(r), 0);
    const errors = new Map<string, number>();
    for (const r of results) for (const [m, n] of r.errors) errors.set(m, (errors.get(m) ?? 0) + n);
    return {
      sent: total((r) => r.sent),
      acked: total((r) => r.acked),
      failed: total((r) => r.failed),
      delivered: total((r) => r.delivered),
      lastDelivery: Math.max(0, ...results.map((r) => r.lastDelivery)),
      latencies: sortedConcat(results.map((r) => r.latencies)),
      acks: sortedConcat(results.map((r) => r.acks)),
      errors,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  #post(m: ToWorker): void {
    for (const t of this.#threads) t.worker.postMessage(m);
  }

  #sum(f: (s: LoadCounters & { warm: number }) => number): number {
    let n = 0;
    for (const t of this.#threads) if (t.status) n += f(t.status);
    return n;
  }

  async #wait(pred: () => boolean, ms: number, what: string): Promise<void> {
    const ok = await until(() => pred() || this.#threads.some((t) => t.failure), ms);
    const failure = this.#threads.find((t) => t.failure)?.failure;
    if (failure) throw new Error(failure);
    if (!ok) throw new Error(`load generator: timed out after ${ms / 1000} s waiting until ${what}`);
  }
}

/** The threads' samples as one array, sorted ascending (a Float64Array sorts numerically). */
function sortedConcat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.sort();
}
