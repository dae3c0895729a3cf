import { Worker } from 'node:worker_threads';

// Plain JavaScript run in a worker thread (no TypeScript loader there): one UDP socket per viewer, each
// packet stamped with process.hrtime on arrival (the sender stamps with the same clock) and keyed by
// the counter in its payload trailer (CountingVp8Sender). Its own thread, so that the main thread's
// mediasoup and gRPC work does not sit between a packet's arrival and its stamp.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const TRAILER = 12;
const sockets = [];
// Per socket: counter -> [arrival ms, sent ms]; the first copy only (a retransmission arrives later).
let arrivals = [];
let bound = 0;
for (let i = 0; i < workerData.sockets; i++) {
  arrivals.push(new Map());
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => {
    const at = Number(process.hrtime.bigint()) / 1e6;
    if (m.length < 12 + TRAILER) return;
    if (m[1] >= 192 && m[1] <= 223) return; // RTCP
    if (m.readUInt32BE(8) === 1234) return; // mediasoup's bandwidth-probation padding
    let end = m.length;
    if (m[0] & 0x20) end -= m[m.length - 1]; // RTP padding
    if (end - TRAILER < 12) return;
    const counter = m.readUInt32BE(end - TRAILER);
    const sent = m.readDoubleBE(end - 8);
    const map = arrivals[i];
    if (!map.has(counter)) map.set(counter, [at, sent]);
  });
  s.bind(0, workerData.ip, () => {
    try { s.setRecvBufferSize(4 * 1024 * 1024); } catch {}
    if (++bound === workerData.sockets)
      parentPort.postMessage({ type: 'ready', ports: sockets.map((x) => x.address().port) });
  });
  sockets.push(s);
}
parentPort.on('message', (msg) => {
  if (msg.type === 'take') {
    const out = arrivals.map((m) => [...m.entries()].map(([c, v]) => [c, v[0], v[1]]));
    arrivals = arrivals.map(() => new Map());
    parentPort.postMessage({ type: 'taken', id: msg.id, out });
  } else if (msg.type === 'close') { for (const s of sockets) s.close(); parentPort.close(); }
});
`;

/** One packet as a viewer got it: its counter, arrival and send time (process.hrtime, ms). */
export type Arrival = { counter: number; at: number; sent: number };

/** UDP sinks, one per viewer, that time every packet's arrival in their own thread. */
export class LatencySink {
  readonly #worker: Worker;
  readonly ip: string;
  readonly ports: number[];
  #nextId = 0;

  static async start(options: { sockets: number; ip: string }): Promise<LatencySink> {
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { sockets: options.sockets, ip: options.ip },
    });
    const ports = await new Promise<number[]>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: { type: string; ports: number[] }) => resolve(m.ports));
    });
    return new LatencySink(worker, options.ip, ports);
  }

  private constructor(worker: Worker, ip: string, ports: number[]) {
    this.#worker = worker;
    this.ip = ip;
    this.ports = ports;
  }

  address(i: number): { ip: string; port: number } {
    return { ip: this.ip, port: this.ports[i]! };
  }

  /** What each socket received since the last take(), and starts afresh. */
  take(): Promise<Arrival[][]> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const onMessage = (m: { type: string; id: number; out: [number, number, number][][] }) => {
        if (m.type !== 'taken' || m.id !== id) return;
        this.#worker.off('message', onMessage);
        resolve(m.out.map((list) => list.map(([counter, at, sent]) => ({ counter, at, sent }))));
      };
      this.#worker.on('message', onMessage);
      this.#worker.postMessage({ type: 'take', id });
    });
  }

  async close(): Promise<void> {
    this.#worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.#worker.terminate().then(() => resolve()), 1000);
      this.#worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
