/**
 * Chat fan-out benchmark: W WebSocket clients in rooms of S, spread over two edges of one region,
 * each sending R messages/s for D seconds; the same workload in the same run against the Socket.IO
 * peer (two instances on the same Redis Cluster). Prints delivered messages/s, send→receive latency
 * and CPU for both, and the ratios.
 *
 *   npx tsx bench/chat/fanout.ts [--clients 200] [--room-size 10] [--rate 2] [--duration 20]
 *                                [--warmup 30] [--only meetview|socketio] [--port-base 23000] [--json out.json]
 *                                [--threads 2] [--peer-adapter sharded|classic]
 *
 * The clients run in --threads worker threads (LoadGenerator), so the load generator's own event loop is
 * not what limits the measurement. --peer-adapter picks the peer's Redis adapter (see its server.ts).
 *
 * Each system first carries the sweep's middle rate for --warmup seconds, unmeasured: the Node processes'
 * and the Kafka broker's JITs compile the hot paths before anything is measured. Every run (warm-up or
 * measured) starts once the servers of both systems are back to their idle CPU use (settle()).
 * `--rate 2,5,10` sweeps: both systems at each rate, then a summary: each one's peak (the most it delivered
 * per second at any rate, however late) and its capacity within p99 bounds (the most it delivered per second
 * at a rate where it delivered everything with p99 under the bound), and the ratios.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../percentile';
import { BenchMesh } from './BenchMesh';
import { CpuMeter } from './cpu';
import { LoadGenerator } from './LoadGenerator';
import type { SystemName } from './loadProtocol';
import { sleep } from './pool';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    'room-size': { type: 'string', default: '10' },
    rate: { type: 'string', default: '2' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '30' },
    drain: { type: 'string', default: '10' },
    only: { type: 'string' },
    'port-base': { type: 'string', default: '23000' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    threads: { type: 'string', default: '2' },
    'peer-adapter': { type: 'string', default: 'sharded' },
  },
});
const W = positive('clients', args.clients);
const S = positive('room-size', args['room-size']);
const RATES = (args.rate ?? '2').split(',').map((r) => positive('rate', r));
const R_MAX = Math.max(...RATES);
const D = positive('duration', args.duration);
const DRAIN_S = positive('drain', args.drain);
/** A run starts once the servers use at most this many % of a core above their idle use (or after 60 s). */
const SETTLE_MARGIN = 15;
const SETTLE_MAX_MS = 60_000;
const WARMUP_S = Number(args.warmup);
const THREADS = positive('threads', args.threads);
if (!Number.isInteger(THREADS)) fail(`--threads: a whole number, got "${args.threads}"`);
if (!Number.isFinite(WARMUP_S) || WARMUP_S < 0) fail(`--warmup: seconds (0 for none), got "${args.warmup}"`);
if (S < 2) fail('--room-size must be at least 2 (someone has to receive)');
if (W % S !== 0) fail(`--clients (${W}) must be a multiple of --room-size (${S})`);
if (args.only && !['meetview', 'socketio'].includes(args.only)) fail('--only: meetview or socketio');
const PEER_ADAPTER = args['peer-adapter'];
if (PEER_ADAPTER !== 'sharded' && PEER_ADAPTER !== 'classic') fail('--peer-adapter: sharded or classic');

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name}: a positive number, got "${v}"`);
  return n;
}
function fail(message: string): never {
  console.error(`fanout: ${message}`);
  process.exit(2);
}

interface System {
  name: SystemName;
  /** The two instances; member j of a room connects to urls[j mod 2]. */
  urls: string[];
  cpu: Record<string, number[]>;
}

interface Result {
  system: string;
  rate: number;
  sent: number;
  acked: number;
  failedSends: number;
  expected: number;
  delivered: number;
  deliveredPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  ackMs: { p50: number; p99: number };
  cpu: Record<string, number>;
}

/**
 * Waits until the servers of both systems and the infrastructure are back to their idle CPU use: an
 * overloaded run can leave a backlog (the peer's Redis pub/sub, a system's "left" messages), which must not
 * be worked off during the next system's measurement.
 */
async function settle(servers: number[], idlePercent: number): Promise<void> {
  const started = performance.now();
  for (;;) {
    const busy = await busyPercent(servers, 1000);
    if (busy <= idlePercent + SETTLE_MARGIN) break;
    if (performance.now() - started > SETTLE_MAX_MS) {
      console.error(`[settle] servers still at ${busy.toFixed(0)}% of a core after 60 s; measuring anyway`);
      return;
    }
  }
  const waited = (performance.now() - started) / 1000;
  if (waited > 1.5)
    console.error(`[settle] the servers were busy for ${waited.toFixed(0)} s before this run`);
}

/** CPU of the processes over the next `ms`, in % of one core. */
async function busyPercent(pids: number[], ms: number): Promise<number> {
  const meter = new CpuMeter({ pids });
  meter.start();
  await sleep(ms);
  return meter.stop().pids!;
}

async function run(sys: System, R: number, seconds = D): Promise<Result> {
  await settle(serverPids, idlePercent);
  const rooms = W / S;
  console.error(`[${sys.name}] connecting ${W} clients in ${rooms} rooms of ${S} (${THREADS} load threads)`);
  const load = await LoadGenerator.connect({
    system: sys.name,
    urls: sys.urls,
    W,
    S,
    tag: `${sys.name}-${Date.now().toString(36)}`,
    threads: THREADS,
  });
  try {
    await load.warm();
    await sleep(500);
    const meter = new CpuMeter(sys.cpu);
    meter.start();
    // Every thread starts on the same wall-clock schedule.
    const t0 = performance.timeOrigin + performance.now() + 50;
    await load.send(R, t0, seconds, DRAIN_S * 1000);
    await sleep(100); // the threads' counters are posted every 50 ms
    await load.drain(load.acked() * (S - 1), DRAIN_S * 1000);
    const cpu = meter.stop();
    const r = await load.finish();
    for (const [m, n] of r.errors) console.error(`[${sys.name}] ${n}× send failed: ${m}`);
    const { latencies: lat, acks: ack } = r;
    return {
      system: sys.name,
      rate: R,
      sent: r.sent,
      acked: r.acked,
      failedSends: r.failed,
      expected: r.acked * (S - 1),
      delivered: r.delivered,
      deliveredPerSec: r.delivered / ((r.lastDelivery - t0) / 1000),
      latencyMs: {
        p50: percentile(lat, 50),
        p90: percentile(lat, 90),
        p99: percentile(lat, 99),
        max: lat.length ? lat[lat.length - 1]! : Number.NaN,
      },
      ackMs: { p50: percentile(ack, 50), p99: percentile(ack, 99) },
      cpu,
    };
  } finally {
    await load.close();
    await sleep(1000);
  }
}

function print(r: Result): void {
  const f = (n: number) => n.toFixed(1);
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v.toFixed(0)}%`)
    .join(', ');
  console.log(
    `${r.system.padEnd(9)} sent ${r.sent} acked ${r.acked} failed ${r.failedSends} | delivered ${r.delivered}/${r.expected}` +
      ` = ${r.deliveredPerSec.toFixed(0)}/s | latency p50 ${f(r.latencyMs.p50)} p90 ${f(r.latencyMs.p90)}` +
      ` p99 ${f(r.latencyMs.p99)} max ${f(r.latencyMs.max)} ms | ack p50 ${f(r.ackMs.p50)} p99 ${f(r.ackMs.p99)} ms` +
      `\n          CPU (% of one core): ${cpu}`,
  );
}

/** CPU-milliseconds (all measured processes together) per delivered message. */
function cpuPerDelivery(r: Result): number {
  const coreShare = Object.values(r.cpu).reduce((a, b) => a + b, 0) / 100;
  return r.deliveredPerSec > 0 ? (coreShare * 1000) / r.deliveredPerSec : Number.NaN;
}

const P99_BOUNDS_MS = [50, 100, 250, 1000];

/** The run with the most deliveries per second among those that delivered everything with p99 ≤ bound. */
function capacityWithin(runs: Result[], boundMs: number): Result | undefined {
  return runs
    .filter((r) => r.failedSends === 0 && r.delivered >= r.expected && r.latencyMs.p99 <= boundMs)
    .reduce<Result | undefined>((a, b) => (!a || b.deliveredPerSec > a.deliveredPerSec ? b : a), undefined);
}

/** Each system's peak and its capacity within p99 bounds over the sweep, and the ratios. */
function summarize(all: Result[], systems: System[]): void {
  console.log(
    "\nsummary (target: Meetview ≥ 3× the peer's delivered throughput at a lower p99; p99 ≤ 50 ms)",
  );
  const at = (r: Result | undefined) =>
    r
      ? `${r.deliveredPerSec.toFixed(0)}/s (${r.rate} msg/s per client, p99 ${r.latencyMs.p99.toFixed(1)} ms)`
      : 'none of the rates';
  const mine = (name: string) => all.filter((r) => r.system === name);
  for (const sys of systems) {
    const runs = mine(sys.name);
    const peak = runs.reduce((a, b) => (b.deliveredPerSec > a.deliveredPerSec ? b : a));
    console.log(`  ${sys.name.padEnd(9)} peak ${at(peak)}`);
    for (const bound of P99_BOUNDS_MS)
      console.log(`  ${''.padEnd(9)} p99 ≤ ${bound} ms: ${at(capacityWithin(runs, bound))}`);
  }
  if (systems.length < 2) return;
  const [m, s] = [mine('meetview'), mine('socketio')];
  const peakOf = (runs: Result[]) => Math.max(...runs.map((r) => r.deliveredPerSec));
  console.log(`  ratio meetview/socketio, peak: ${(peakOf(m) / peakOf(s)).toFixed(2)}×`);
  for (const bound of P99_BOUNDS_MS) {
    const [a, b] = [capacityWithin(m, bound), capacityWithin(s, bound)];
    const ratio =
      a && b
        ? `${(a.deliveredPerSec / b.deliveredPerSec).toFixed(2)}×`
        : a
          ? 'the peer met this bound at none of the rates'
          : '—';
    console.log(`  ratio meetview/socketio within p99 ≤ ${bound} ms: ${ratio}`);
  }
}

const bench = await BenchMesh.start({
  portBase: Number(args['port-base']),
  ...(args['cpu-prof'] ? { cpuProfDir: resolve(args['cpu-prof']) } : {}),
  // Above the offered rate so the limiter never refuses a benchmark message.
  chatRate: `${Math.max(5, Math.ceil(R_MAX * 2))}:${Math.max(20, Math.ceil(R_MAX * 4))}`,
  peer: args.only !== 'meetview' ? { adapter: PEER_ADAPTER } : false,
});
const stopOnSignal = () => void bench.close().then(() => process.exit(130));
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
const results: Result[] = [];
/** Every server process (edges, peers, Redis, Kafka) and their CPU use when idle, for settle(). */
let serverPids: number[] = [];
let idlePercent = 0;
try {
  const infra = bench.infraPids();
  const edges = bench.edges;
  const peers = bench.peers;
  serverPids = [
    ...edges.map((e) => e.process.pid!),
    ...peers.map((p) => p.process.pid!),
    ...infra.redis,
    ...infra.kafka,
  ];
  idlePercent = await busyPercent(serverPids, 3000);
  console.error(`[settle] idle servers: ${idlePercent.toFixed(0)}% of a core`);
  const systems: System[] = [];
  if (args.only !== 'socketio')
    systems.push({
      name: 'meetview',
      urls: edges.map((e) => e.url),
      cpu: { edges: edges.map((e) => e.process.pid!), redis: infra.redis, kafka: infra.kafka },
    });
  if (args.only !== 'meetview')
    systems.push({
      name: 'socketio',
      urls: peers.map((p) => p.url),
      cpu: { servers: peers.map((p) => p.process.pid!), redis: infra.redis, kafka: infra.kafka },
    });
  if (WARMUP_S > 0)
    for (const sys of systems) {
      const w = await run(sys, [...RATES].sort((a, b) => a - b)[Math.floor(RATES.length / 2)]!, WARMUP_S);
      console.log(`warm-up ${sys.name}: ${WARMUP_S} s at ${w.rate} msg/s per client (not counted)`);
    }
  for (const R of RATES) {
    console.log(
      `fan-out: ${W} clients, rooms of ${S} (${W / S} rooms) over 2 instances, ${R} msg/s each for ${D} s` +
        ` → offered ${W * R} msg/s, ${W * R * (S - 1)} deliveries/s` +
        (args.only === 'meetview' ? '' : ` (peer: ${PEER_ADAPTER} Redis adapter)`),
    );
    const here: Result[] = [];
    for (const sys of systems) {
      here.push(await run(sys, R));
      print(here.at(-1)!);
    }
    results.push(...here);
    const [m, s] = here;
    if (m && s)
      console.log(
        `ratio meetview/socketio at ${R} msg/s: throughput ${(m.deliveredPerSec / s.deliveredPerSec).toFixed(2)}×,` +
          ` p99 ${(m.latencyMs.p99 / s.latencyMs.p99).toFixed(2)}×, CPU per delivery ${(cpuPerDelivery(m) / cpuPerDelivery(s)).toFixed(2)}×`,
      );
  }
  if (RATES.length > 1 || systems.length > 1) summarize(results, systems);
  if (args.json) writeFileSync(args.json, JSON.stringify({ W, S, RATES, D, results }, null, 2));
} finally {
  await bench.close();
}
