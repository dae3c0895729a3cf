/**
 * Forwarding capacity of ONE mediasoup worker: 1 publisher × N consumers over plain RTP, through the
 * edge's media core (WorkerPool → Room → PlainRtpEndpoint) and through bare mediasoup, same worker
 * binary, same run. A node sender feeds synthetic VP8 at a fixed packet rate; UDP sinks in their own
 * thread count what arrives; worker CPU is utime + stime of the worker process (/proc/<pid>/stat, the
 * same figure as getResourceUsage()'s ru_utime + ru_stime, read at a known instant; both are in the JSON).
 *
 *   npx tsx bench/media/forwarding.ts [--pps 1000] [--seconds 3] [--warmup 1.5] [--ns 1,10,50,100,250,500]
 *                                     [--payload 1000] [--sinks 16] [--repeat 1] [--json out.json]
 *
 * Bounded: every case runs warmup + seconds; the whole run aborts after --budget seconds (default 420).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { resolveWorkerBin } from '../../lib/media/workerBin';
import { BareMediasoupTarget } from '../peers/bareMediasoup';
import { EdgeTarget } from './edgeTarget';
import type { ForwardingTarget } from './ForwardingTarget';
import { SinkThread, udpDrops } from './SinkThread';
import { SyntheticVp8Sender } from './SyntheticVp8Sender';

const { values } = parseArgs({
  options: {
    pps: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1.5' },
    ns: { type: 'string', default: '1,10,50,100,250,500' },
    payload: { type: 'string', default: '1000' },
    sinks: { type: 'string', default: '16' },
    budget: { type: 'string', default: '420' },
    repeat: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const pps = Number(values.pps);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const ns = values.ns.split(',').map(Number);
const payload = Number(values.payload);
if (![pps, seconds, warmup, payload, ...ns].every((x) => Number.isFinite(x) && x > 0))
  throw new Error('every numeric option must be a positive number');

type Row = {
  target: string;
  consumers: number;
  offeredPps: number;
  forwardedPps: number;
  /**
   * The kernel's drop counter of the worker's ingress socket, per second (JSON only): non-zero when the
   * worker is not scheduled often enough to drain its receive buffer.
   */
  ingressDropsPerS: number;
  sinkDropsPerS: number;
  cpuPercent: number;
  /** Cross-check (JSON only): worker CPU ms by getResourceUsage() around the window vs by /proc in it. */
  rusageCpuMs: number;
  procCpuMs: number;
  cpuPercentPer1kPps: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

/**
 * Worker CPU time (utime + stime) read from /proc/<pid>/stat, stamped when read. The same quantity as
 * getResourceUsage()'s ru_utime + ru_stime, but read at a known instant: under load the worker's
 * channel answers getResourceUsage() late, which skews a rate computed over a few seconds.
 */
const CLOCK_TICKS_PER_S = 100;
async function procCpu(pid: number): Promise<{ ms: number; at: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { ms: (ticks * 1000) / CLOCK_TICKS_PER_S, at: now() };
}

async function measure(
  target: ForwardingTarget,
  sinks: SinkThread,
  consumers: number,
  ssrc: number,
): Promise<Row> {
  const ingress = await target.prepare({ consumers, sinks: sinks.addresses, ssrc });
  const sender = new SyntheticVp8Sender({ target: ingress, pps, ssrc, payloadBytes: payload });
  try {
    sender.start();
    await sleep(warmup * 1000);
    // Each figure gets its own time window: under load the worker and the sink thread answer late.
    const ru0 = await target.cpuMs();
    const [cpu0, c0, d0, i0] = await Promise.all([
      procCpu(target.workerPid),
      sinks.count(),
      sinks.drops(),
      udpDrops([ingress.port]),
    ]);
    const s0 = { n: sender.sent, at: now() };
    await sleep(seconds * 1000);
    const s1 = { n: sender.sent, at: now() };
    const [cpu1, c1, d1, i1] = await Promise.all([
      procCpu(target.workerPid),
      sinks.count(),
      sinks.drops(),
      udpDrops([ingress.port]),
    ]);
    const ru1 = await target.cpuMs();
    const forwardedPps = (c1.rtp - c0.rtp) / ((c1.at - c0.at) / 1000);
    const cpuPercent = ((cpu1.ms - cpu0.ms) / (cpu1.at - cpu0.at)) * 100;
    const dt = (s1.at - s0.at) / 1000;
    return {
      target: target.name,
      consumers,
      offeredPps: ((s1.n - s0.n) * consumers) / dt,
      forwardedPps,
      ingressDropsPerS: (i1 - i0) / dt,
      sinkDropsPerS: (d1 - d0) / dt,
      cpuPercent,
      rusageCpuMs: ru1 - ru0,
      procCpuMs: cpu1.ms - cpu0.ms,
      cpuPercentPer1kPps: forwardedPps > 0 ? cpuPercent / (forwardedPps / 1000) : Number.NaN,
    };
  } finally {
    sender.close();
    target.teardown();
    // Let in-flight packets of this case land before the next one counts.
    await sleep(300);
  }
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

async function main(): Promise<void> {
  const budget = setTimeout(() => {
    console.error(`forwarding benchmark: time budget of ${values.budget} s exceeded, aborting`);
    process.exit(2);
  }, Number(values.budget) * 1000);
  budget.unref();

  const workerBin = resolveWorkerBin();
  const edge = await EdgeTarget.create({
    workerBin,
    basePort: 32010,
    rtcPortRange: { min: 44100, max: 44799 },
  });
  const bare = await BareMediasoupTarget.create({ workerBin, rtcPortRange: { min: 44800, max: 45499 } });
  const sinks = await SinkThread.start({ sockets: Number(values.sinks) });
  console.log(
    `worker ${workerBin}\nedge worker pid ${edge.workerPid}, bare worker pid ${bare.workerPid}; ` +
      `publisher ${pps} pps of ${payload + 12}-byte VP8 RTP; ${warmup} s warm-up + ${seconds} s per case; ` +
      `load average at start ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} on ${cpus().length} cores\n`,
  );
  const rows: Row[] = [];
  try {
    let ssrc = 100000;
    const repeat = Number(values.repeat);
    for (const [i, n] of ns.flatMap((n) => Array.from({ length: repeat }, () => n)).entries()) {
      // Alternate which goes first so that drift on the shared machine does not favour one side.
      const order = i % 2 === 0 ? [edge, bare] : [bare, edge];
      for (const target of order) {
        const row = await measure(target, sinks, n, ssrc++);
        rows.push(row);
        console.log(
          `  ${row.target.padEnd(4)} N=${String(n).padStart(3)}  offered ${fmt(row.offeredPps).padStart(7)} pps  ` +
            `forwarded ${fmt(row.forwardedPps).padStart(7)} pps  worker CPU ${fmt(row.cpuPercent, 1)}%  ` +
            `sink drops ${fmt(row.sinkDropsPerS)}/s`,
        );
      }
    }
  } finally {
    await sinks.close();
    edge.close();
    bare.close();
  }

  // With --repeat, each figure is the median over the repeats of that case.
  const median = (xs: number[]) => {
    const v = [...xs].sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const pick = (target: string, n: number) => {
    const rs = rows.filter((r) => r.target === target && r.consumers === n);
    const m = (k: keyof Omit<Row, 'target'>) => median(rs.map((r) => r[k] as number));
    return {
      offered: m('offeredPps'),
      fwd: m('forwardedPps'),
      cpu: m('cpuPercent'),
      per1k: m('cpuPercentPer1kPps'),
      ingressDrops: m('ingressDropsPerS'),
    };
  };
  console.log(
    '\n| N | offered pps | edge fwd pps | bare fwd pps | fwd edge/bare | edge CPU % | bare CPU % | ' +
      'edge CPU %/1k pps | bare CPU %/1k pps | CPU/1k edge/bare | edge pps per core | bare pps per core |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of ns) {
    const e = pick('edge', n);
    const b = pick('bare', n);
    console.log(
      `| ${n} | ${fmt((e.offered + b.offered) / 2)} | ${fmt(e.fwd)} | ${fmt(b.fwd)} | ${fmt(e.fwd / b.fwd, 2)} | ` +
        `${fmt(e.cpu, 1)} | ${fmt(b.cpu, 1)} | ${fmt(e.per1k, 2)} | ${fmt(b.per1k, 2)} | ${fmt(e.per1k / b.per1k, 2)} | ` +
        `${fmt(100_000 / e.per1k)} | ${fmt(100_000 / b.per1k)} |`,
    );
  }
  console.log(
    '\n"pps per core" = forwarded pps / (worker CPU / 100%): what one whole core would forward at the measured cost.',
  );
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} on ${cpus().length} cores`,
  );
  const drops = rows.filter((r) => r.sinkDropsPerS > 0);
  if (drops.length > 0)
    console.log(
      `sink-side kernel drops seen in ${drops.length} case(s): there the sinks, not the worker, may limit "forwarded".`,
    );
  if (values.json)
    await writeFile(values.json, JSON.stringify({ pps, seconds, warmup, payload, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
