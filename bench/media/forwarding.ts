/**
 * Forwarding capacity of ONE mediasoup worker: 1 publisher × N consumers over plain RTP, through the
 * edge's media core (WorkerPool → Room → PlainRtpEndpoint) and through bare mediasoup, same worker
 * binary, same run. A node sender feeds synthetic VP8 at a fixed packet rate; UDP sinks in their own
 * thread count what arrives; worker CPU comes from getResourceUsage() (ru_utime + ru_stime deltas).
 *
 *   npx tsx bench/media/forwarding.ts [--pps 1000] [--seconds 3] [--warmup 1.5] [--ns 1,10,50,100,250,500]
 *                                     [--payload 1000] [--sinks 16] [--json out.json]
 *
 * Bounded: every case runs warmup + seconds; the whole run aborts after --budget seconds (default 420).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { resolveWorkerBin } from '../../lib/media/workerBin';
import { BareMediasoupTarget } from '../peers/bareMediasoup';
import { EdgeTarget } from './edgeTarget';
import type { ForwardingTarget } from './ForwardingTarget';
import { SinkThread } from './SinkThread';
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
  sinkDropsPerS: number;
  cpuPercent: number;
  cpuPercentPer1kPps: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    const cpu0 = await target.cpuMs();
    const c0 = await sinks.count();
    const d0 = await sinks.drops();
    const s0 = sender.sent;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const cpu1 = await target.cpuMs();
    const c1 = await sinks.count();
    const d1 = await sinks.drops();
    const s1 = sender.sent;
    const dt = (performance.now() - t0) / 1000;
    const forwardedPps = (c1.rtp - c0.rtp) / dt;
    const cpuPercent = ((cpu1 - cpu0) / (dt * 1000)) * 100;
    return {
      target: target.name,
      consumers,
      offeredPps: ((s1 - s0) * consumers) / dt,
      forwardedPps,
      sinkDropsPerS: (d1 - d0) / dt,
      cpuPercent,
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
    basePort: 44010,
    rtcPortRange: { min: 44100, max: 44799 },
  });
  const bare = await BareMediasoupTarget.create({ workerBin, rtcPortRange: { min: 44800, max: 45499 } });
  const sinks = await SinkThread.start({ sockets: Number(values.sinks) });
  console.log(
    `worker ${workerBin}\nedge worker pid ${edge.workerPid}, bare worker pid ${bare.workerPid}; ` +
      `publisher ${pps} pps of ${payload + 12}-byte VP8 RTP; ${warmup} s warm-up + ${seconds} s per case\n`,
  );
  const rows: Row[] = [];
  try {
    let ssrc = 100000;
    for (const [i, n] of ns.entries()) {
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

  console.log(
    '\n| N | offered pps | edge fwd pps | bare fwd pps | fwd ratio edge/bare | edge CPU % | bare CPU % | edge CPU %/1k pps | bare CPU %/1k pps | CPU/1k ratio edge/bare |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const n of ns) {
    const e = rows.find((r) => r.target === 'edge' && r.consumers === n)!;
    const b = rows.find((r) => r.target === 'bare' && r.consumers === n)!;
    console.log(
      `| ${n} | ${fmt((e.offeredPps + b.offeredPps) / 2)} | ${fmt(e.forwardedPps)} | ${fmt(b.forwardedPps)} | ` +
        `${fmt(e.forwardedPps / b.forwardedPps, 3)} | ${fmt(e.cpuPercent, 1)} | ${fmt(b.cpuPercent, 1)} | ` +
        `${fmt(e.cpuPercentPer1kPps, 3)} | ${fmt(b.cpuPercentPer1kPps, 3)} | ${fmt(e.cpuPercentPer1kPps / b.cpuPercentPer1kPps, 3)} |`,
    );
  }
  const drops = rows.filter((r) => r.sinkDropsPerS > 0);
  if (drops.length > 0)
    console.log(
      `\nsink-side kernel drops seen in ${drops.length} case(s): there the sinks, not the worker, may limit "forwarded".`,
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
