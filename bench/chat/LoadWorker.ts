/**
 * One thread of the fan-out benchmark's load generator: it owns a share of the clients (their global
 * indices), sends their messages on the global schedule and records what they receive. The main thread
 * (fanout.ts) starts one per `--threads`, so one event loop parsing every delivered frame is not the
 * limit of the measurement. Times are wall-clock milliseconds with sub-millisecond precision
 * (performance.timeOrigin + performance.now()), comparable between threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChatBenchClient } from './ChatBenchClient';
import type { FromWorker, LoadWorkerData, ToWorker } from './loadProtocol';
import { MeetviewClient } from './MeetviewClient';
import { mapLimit } from './pool';
import { SocketIoClient } from './SocketIoClient';

const port = parentPort!;
const { system, urls, indices, W, S, tag } = workerData as LoadWorkerData;
const now = () => performance.timeOrigin + performance.now();

let clients: ChatBenchClient[] = [];
let warm = 0;
let sent = 0;
let acked = 0;
let failed = 0;
let delivered = 0;
let lastDelivery = 0;
let sending = false;
const latencies: number[] = [];
const acks: number[] = [];
const errors = new Map<string, number>();

function connect(global: number): Promise<ChatBenchClient> {
  const url = urls[global % urls.length]!;
  const room = `${tag}-r${Math.floor(global / S)}`;
  return system === 'meetview'
    ? MeetviewClient.connect(url, room, `c${global}`)
    : SocketIoClient.connect(url, room, `c${global}`);
}

function listen(client: ChatBenchClient, global: number): void {
  client.onMessage = (text) => {
    if (text.charCodeAt(0) === 119 /* w */) {
      warm++;
      return;
    }
    const [, from, , at] = text.split('|');
    if (Number(from) === global) return;
    const t = now();
    latencies.push(t - Number(at));
    delivered++;
    lastDelivery = t;
  };
}

/** Sends each owned client's messages at R/s from t0 until endAt, phases spread over one period by global index. */
function sendFrom(R: number, t0: number, endAt: number): void {
  const period = 1000 / R;
  const next = indices.map((g) => t0 + (g / W) * period);
  const seq = indices.map(() => 0);
  sending = true;
  const tick = () => {
    const t = now();
    if (t >= endAt) {
      sending = false;
      return;
    }
    for (let k = 0; k < indices.length; k++) {
      while (next[k]! <= t) {
        next[k]! += period;
        const at = now();
        sent++;
        clients[k]!.send(`m|${indices[k]}|${seq[k]!++}|${at}`).then(
          () => {
            acked++;
            acks.push(now() - at);
          },
          (err: Error) => {
            failed++;
            errors.set(err.message, (errors.get(err.message) ?? 0) + 1);
          },
        );
      }
    }
    setTimeout(tick, 2);
  };
  tick();
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const status = setInterval(
  () => post({ type: 'status', warm, sending, sent, acked, failed, delivered, lastDelivery }),
  50,
);

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'connect':
      void mapLimit(indices.length, 8, (k) => connect(indices[k]!)).then(
        (list) => {
          clients = list;
          for (const [k, c] of list.entries()) listen(c, indices[k]!);
          post({ type: 'connected' });
        },
        (err: Error) => post({ type: 'failed', message: err.message }),
      );
      break;
    case 'warm':
      // Each room's first member sends one warm-up message; every member must receive it.
      for (const [k, g] of indices.entries())
        if (g % S === 0) void clients[k]!.send(`w|${g / S}`).catch(() => {});
      break;
    case 'start':
      sendFrom(m.rate, m.t0, m.endAt);
      break;
    case 'finish': {
      clearInterval(status);
      const lat = Float64Array.from(latencies);
      const ack = Float64Array.from(acks);
      for (const c of clients) c.close();
      post(
        {
          type: 'result',
          sent,
          acked,
          failed,
          delivered,
          lastDelivery,
          latencies: lat,
          acks: ack,
          errors: [...errors],
        },
        [lat.buffer, ack.buffer],
      );
      break;
    }
  }
});
