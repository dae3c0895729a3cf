import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

// Plain JavaScript run in a worker thread (no TypeScript loader needed there): K UDP sockets that count
// RTP packets (RTCP apart) and answer {count} requests. Receiving up to hundreds of thousands of
// packets per second is the costly side of the benchmark, so it gets its own thread.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
let rtp = 0, rtcp = 0, bytes = 0, probation = 0;
const sockets = [];
let bound = 0;
for (let i = 0; i < workerData.sockets; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => {
    const pt = m[1];
    if (pt >= 192 && pt <= 223) rtcp++;
    // SSRC 1234 is mediasoup's bandwidth-probation padding, not forwarded media.
    else if (m.readUInt32BE(8) === 1234) probation++;
    else { rtp++; bytes += m.length; }
  });
  s.bind(0, workerData.ip, () => {
    try { s.setRecvBufferSize(workerData.recvBufferSize); } catch {}
    if (++bound === workerData.sockets)
      parentPort.postMessage({ type: 'ready', ports: sockets.map((x) => x.address().port) });
  });
  sockets.push(s);
}
parentPort.on('message', (msg) => {
  if (msg.type === 'count') parentPort.postMessage({ type: 'count', id: msg.id, rtp, rtcp, bytes, probation, at: performance.timeOrigin + performance.now() });
  else if (msg.type === 'close') { for (const s of sockets) s.close(); parentPort.close(); }
});
`;

/** Counts so far; `at` is when the sink thread read them (epoch ms), since a busy thread answers late. */
type Counts = { rtp: number; rtcp: number; bytes: number; probation: number; at: number };

/** UDP sinks for the benchmark, in their own thread. */
export class SinkThread {
  readonly #worker: Worker;
  readonly ip: string;
  readonly ports: number[];
  #nextId = 0;

  static async start(options: {
    sockets: number;
    ip?: string;
    recvBufferSize?: number;
  }): Promise<SinkThread> {
    const ip = options.ip ?? '127.0.0.1';
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { sockets: options.sockets, ip, recvBufferSize: options.recvBufferSize ?? 4 * 1024 * 1024 },
    });
    const ports = await new Promise<number[]>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: { type: string; ports: number[] }) => resolve(m.ports));
    });
    return new SinkThread(worker, ip, ports);
  }

  private constructor(worker: Worker, ip: string, ports: number[]) {
    this.#worker = worker;
    this.ip = ip;
    this.ports = ports;
  }

  get addresses(): { ip: string; port: number }[] {
    return this.ports.map((port) => ({ ip: this.ip, port }));
  }

  count(): Promise<Counts> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const onMessage = (m: { type: string; id: number } & Counts) => {
        if (m.type !== 'count' || m.id !== id) return;
        this.#worker.off('message', onMessage);
        resolve({ rtp: m.rtp, rtcp: m.rtcp, bytes: m.bytes, probation: m.probation, at: m.at });
      };
      this.#worker.on('message', onMessage);
      this.#worker.postMessage({ type: 'count', id });
    });
  }

  /** Kernel-side drops of the sink sockets (receive buffer overflow), from /proc/net/udp. */
  drops(): Promise<number> {
    return udpDrops(this.ports);
  }

  async close(): Promise<void> {
    this.#worker.postMessage({ type: 'close' });
    await this.#worker.terminate();
  }
}

/** Sum of the kernel's receive-drop counters of the local UDP sockets bound to `ports` (/proc/net/udp). */
export async function udpDrops(ports: Iterable<number>): Promise<number> {
  const wanted = new Set(ports);
  const table = await readFile('/proc/net/udp', 'utf8');
  let drops = 0;
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local) continue;
    const port = Number.parseInt(local.split(':')[1] ?? '', 16);
    if (wanted.has(port)) drops += Number(cols[cols.length - 1] ?? 0);
  }
  return drops;
}
