/**
 * The seed paper's experiment: in one room, a few senders post N messages through the edges (Kafka
 * in between) while a few receivers listen; the time from the first message sent to the last message
 * received by every receiver, and the per-message send → receive latency distribution, for each N.
 * Prints a table; writes results.md and a latency CDF chart (SVG) to --out.
 *
 *   npx tsx bench/chat/seed.ts [--counts 1000,10000,100000] [--senders 8] [--receivers 2]
 *                              [--rate 45] [--out bench/chat/results] [--port-base 23000]
 *
 * Each sender sends at --rate messages/s (the bench edges allow 1000 frames/s per socket, MEETVIEW_SIGNALING_RATE),
 * so N messages take about N / (senders × rate) seconds to send.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, sortedCopy } from '../percentile';
import { BenchMesh } from './BenchMesh';
import { MeetviewClient } from './MeetviewClient';
import { mapLimit, sleep, until } from './pool';
import { latencyCdfSvg } from './svg';

const { values: args } = parseArgs({
  options: {
    counts: { type: 'string', default: '1000,10000,100000' },
    senders: { type: 'string', default: '8' },
    receivers: { type: 'string', default: '2' },
    rate: { type: 'string', default: '45' },
    drain: { type: 'string', default: '60' },
    out: { type: 'string', default: 'bench/chat/results' },
    'port-base': { type: 'string', default: '23000' },
    'cpu-prof': { type: 'string' },
  },
});
const counts = (args.counts ?? '').split(',').map(Number);
const P = Number(args.senders);
const Q = Number(args.receivers);
const RATE = Number(args.rate);
const DRAIN_MS = Number(args.drain) * 1000;
for (const [name, v] of Object.entries({ counts: Math.min(...counts), senders: P, receivers: Q, rate: RATE }))
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`seed: --${name} must be positive`);
    process.exit(2);
  }

interface Run {
  n: number;
  sendSeconds: number;
  totalSeconds: number;
  received: number;
  expected: number;
  failedSends: number;
  sorted: Float64Array;
}

async function runOnce(bench: BenchMesh, n: number): Promise<Run> {
  const room = `seed-${n}-${Date.now().toString(36)}`;
  const edges = bench.edges;
  // Senders and receivers alternate between the two edges, so half the traffic crosses edges via Kafka.
  const senders = await mapLimit(P, 8, (i) => MeetviewClient.connect(edges[i % 2]!.url, room, `s${i}`));
  const receivers = await mapLimit(Q, 8, (i) =>
    MeetviewClient.connect(edges[(i + 1) % 2]!.url, room, `r${i}`),
  );
  try {
    const latencies: number[] = [];
    const got = receivers.map(() => 0);
    let warm = 0;
    let lastReceive = 0;
    receivers.forEach((r, k) => {
      r.onMessage = (text) => {
        if (text === 'warm') {
          warm++;
          return;
        }
        const now = performance.now();
        latencies.push(now - Number(text.slice(text.lastIndexOf('|') + 1)));
        got[k]!++;
        lastReceive = now;
      };
    });
    await senders[0]!.send('warm');
    if (!(await until(() => warm >= Q, 60_000))) throw new Error('warm-up message not delivered in 60 s');

    const perSender = Array.from({ length: P }, (_, i) => Math.floor(n / P) + (i < n % P ? 1 : 0));
    let failed = 0;
    const t0 = performance.now();
    await Promise.all(
      senders.map(async (s, i) => {
        const period = 1000 / RATE;
        const start = t0 + (i / P) * period;
        const pending: Promise<void>[] = [];
        for (let k = 0; k < perSender[i]!; k++) {
          const due = start + k * period;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          pending.push(
            s.send(`${i}|${k}|${performance.now()}`).catch(() => {
              failed++;
            }),
          );
        }
        await Promise.all(pending);
      }),
    );
    const sendSeconds = (performance.now() - t0) / 1000;
    const expected = (n - failed) * Q;
    await until(() => latencies.length >= expected, DRAIN_MS);
    return {
      n,
      sendSeconds,
      totalSeconds: (lastReceive - t0) / 1000,
      received: latencies.length,
      expected,
      failedSends: failed,
      sorted: sortedCopy(latencies),
    };
  } finally {
    for (const c of [...senders, ...receivers]) c.close();
    await sleep(1000);
  }
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const header =
  '| messages | sent in (s) | first sent → last received (s) | received / expected | failed sends | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |';
const rule = '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
const row = (r: Run) =>
  `| ${r.n.toLocaleString('en')} | ${r.sendSeconds.toFixed(1)} | ${r.totalSeconds.toFixed(2)} | ${r.received}/${r.expected} | ${r.failedSends} | ` +
  `${fmt(percentile(r.sorted, 50))} | ${fmt(percentile(r.sorted, 90))} | ${fmt(percentile(r.sorted, 99))} | ` +
  `${fmt(percentile(r.sorted, 99.9))} | ${fmt(r.sorted.at(-1) ?? Number.NaN)} |`;

const bench = await BenchMesh.start({
  portBase: Number(args['port-base']),
  ...(args['cpu-prof'] ? { cpuProfDir: resolve(args['cpu-prof']) } : {}),
  chatRate: `${Math.ceil(RATE * 2)}:${Math.ceil(RATE * 4)}`,
  peer: false,
});
const stopOnSignal = () => void bench.close().then(() => process.exit(130));
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
const runs: Run[] = [];
try {
  console.log(
    `seed experiment: one room, ${P} senders at ${RATE} msg/s each and ${Q} receivers, over 2 edges of one region`,
  );
  console.log(header);
  console.log(rule);
  for (const n of counts) {
    const r = await runOnce(bench, n);
    runs.push(r);
    console.log(row(r));
  }
} finally {
  await bench.close();
}
const out = args.out!;
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'seed.svg'),
  latencyCdfSvg(
    `Meetview chat: send → receive latency, ${P} senders × ${RATE}/s, ${Q} receivers, 2 edges`,
    runs.map((r) => ({ label: `${r.n.toLocaleString('en')} messages`, sorted: r.sorted })),
  ),
);
writeFileSync(
  join(out, 'seed.md'),
  [
    `# Seed experiment (${new Date().toISOString()})`,
    '',
    `\`npx tsx bench/chat/seed.ts --counts ${counts.join(',')} --senders ${P} --receivers ${Q} --rate ${RATE}\``,
    '',
    `One room, ${P} senders at ${RATE} msg/s each and ${Q} receivers over two edges of region seoul`,
    '(placement local, single Kafka broker, 6-node Redis Cluster), on a shared 2-core machine.',
    'Latency is per message per receiver (send call → chat.message received, one clock).',
    '',
    header,
    rule,
    ...runs.map(row),
    '',
    '![latency CDF](seed.svg)',
    '',
  ].join('\n'),
);
console.log(`wrote ${join(out, 'seed.svg')} and ${join(out, 'seed.md')}`);
