/**
 * The WAN link emulator's own cost: the latency it adds beyond the configured delay, and its CPU per
 * 1000 packets/s. A WAN-only mesh (no Redis, Kafka or edges) on port base 19500; a UDP echo in
 * frankfurt; pings from seoul (through the emulator, twice per round trip) and from the launcher's
 * namespace (the host link: the same veths and routing, no emulator) as the baseline.
 *
 *   sudo npx tsx bench/wan/delayLine.ts [--seconds 5] [--rates 500,2000,5000] [--size 1000]
 *
 * Needs root (network namespaces); without it, it says so and stops: a loopback run has nothing to measure.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Mesh } from '../../regions/launcher';
import { wanOrLoopback } from '../../regions/launcher/wan/netns';
import { type PingResult, percentile, ping, startEcho } from '../../regions/launcher/wan/runProbe';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rates: { type: 'string', default: '500,2000,5000' },
    size: { type: 'string', default: '1000' },
  },
});
const SECONDS = Number(values.seconds);
const RATES = values.rates.split(',').map(Number);
const SIZE = Number(values.size);
if (!(SECONDS > 0) || RATES.some((r) => !(r > 0)) || !(SIZE >= 12 && SIZE <= 1400))
  throw new Error('--seconds > 0, --rates a list of packets/s > 0, --size 12..1400');

const BASE = 19500;
const ECHO = BASE + 250;
const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Packets the emulator dropped on any link, for any reason (none are configured here). */
async function emulatorDrops(mesh: Mesh): Promise<number> {
  return (await mesh.wan!.stats()).reduce((n, s) => n + s.lossDrops + s.queueDrops + s.downDrops, 0);
}

const fmt = (x: number) => x.toFixed(2);
const summary = (r: PingResult) => ({
  sent: r.sent,
  received: r.received,
  p50: percentile(r.rttMs, 50),
  p99: percentile(r.rttMs, 99),
});

async function main(): Promise<void> {
  const wan = wanOrLoopback(true);
  if (!wan) {
    console.error('bench/wan measures the emulated WAN itself: run it as root.');
    process.exit(2);
  }
  const mesh = await Mesh.start({ name: 'bench-wan', portBase: BASE, redis: false, kafka: false, wan });
  try {
    await startEcho(mesh, 'frankfurt', 'udp', ECHO);
    const to = { host: mesh.hostOf('frankfurt'), port: ECHO };
    const emulatorPid = mesh.wan!.emulator!.process.pid!;
    const latencyRun = { count: 500, intervalMs: 10, size: SIZE };

    // 1. Added latency: the same pinger, with and without the emulator on the path.
    await ping(mesh, null, 'udp', to, { count: 50, intervalMs: 5 }); // warm-up (ARP, JIT)
    const direct = summary(await ping(mesh, null, 'udp', to, latencyRun));
    await mesh.wan!.setLink('seoul', 'frankfurt', { rttMs: 0 });
    await ping(mesh, 'seoul', 'udp', to, { count: 50, intervalMs: 5 });
    const zero = summary(await ping(mesh, 'seoul', 'udp', to, latencyRun));
    await mesh.wan!.setLink('seoul', 'frankfurt', { rttMs: 80 });
    const eighty = summary(await ping(mesh, 'seoul', 'udp', to, latencyRun));

    // 2. CPU per 1000 packets/s: each ping crosses the emulator twice (request and echo).
    await mesh.wan!.setLink('seoul', 'frankfurt', { rttMs: 0 });
    const cpu: {
      rate: number;
      packetsPerSecond: number;
      received: number;
      sent: number;
      coreShare: number;
      per1kPps: number;
      droppedByEmulator: number;
    }[] = [];
    for (const rate of RATES) {
      const count = Math.round(rate * SECONDS);
      const before = cpuSeconds(emulatorPid);
      const dropsBefore = await emulatorDrops(mesh);
      const t0 = performance.now();
      const r = await ping(mesh, 'seoul', 'udp', to, {
        count,
        intervalMs: 1000 / rate,
        size: SIZE,
        waitMs: 300,
      });
      const elapsed = (performance.now() - t0) / 1000;
      const used = cpuSeconds(emulatorPid) - before;
      const dropped = (await emulatorDrops(mesh)) - dropsBefore;
      const packetsPerSecond = (r.sent + r.received) / elapsed;
      const coreShare = used / elapsed;
      cpu.push({
        rate,
        packetsPerSecond,
        sent: r.sent,
        received: r.received,
        coreShare,
        per1kPps: coreShare / (packetsPerSecond / 1000),
        droppedByEmulator: dropped,
      });
    }

    const result = {
      at: new Date().toISOString(),
      machine: {
        cpus: (await import('node:os')).cpus().length,
        loadavg: (await import('node:os')).loadavg(),
      },
      sizeBytes: SIZE,
      latencyMs: {
        direct,
        emulatorAt0ms: zero,
        emulatorAt80ms: eighty,
        addedPerRoundTripP50: zero.p50 - direct.p50,
        excessOver80P50: eighty.p50 - 80 - direct.p50,
      },
      cpu,
    };
    const lines = [
      `WAN link emulator, ${SIZE}-byte UDP, ${latencyRun.count} pings at ${1000 / latencyRun.intervalMs}/s (load average ${result.machine.loadavg.map((x) => x.toFixed(1)).join(' ')})`,
      `  round trip, host link (no emulator):     p50 ${fmt(direct.p50)}  p99 ${fmt(direct.p99)} ms`,
      `  round trip through the emulator, 0 ms:   p50 ${fmt(zero.p50)}  p99 ${fmt(zero.p99)} ms  (${zero.received}/${zero.sent})`,
      `  round trip through the emulator, 80 ms:  p50 ${fmt(eighty.p50)}  p99 ${fmt(eighty.p99)} ms  (${eighty.received}/${eighty.sent})`,
      // Medians of separate runs: their difference is meaningful, a difference of p99s is not.
      `  added by the emulator per round trip (2 passes), p50 − p50 of the host link: ${fmt(result.latencyMs.addedPerRoundTripP50)} ms`,
      `  beyond the configured 80 ms, p50 − p50 of the host link:                      ${fmt(result.latencyMs.excessOver80P50)} ms`,
      '  CPU of the emulator:',
      ...cpu.map(
        (c) =>
          `    ${String(c.rate).padStart(5)} pings/s = ${c.packetsPerSecond.toFixed(0).padStart(6)} packets/s through it: ${(c.coreShare * 100).toFixed(1)}% of a core, ${(c.per1kPps * 100).toFixed(2)}% of a core per 1k packets/s (${c.received}/${c.sent} echoed, ${c.droppedByEmulator} dropped by the emulator)`,
      ),
    ];
    console.log(lines.join('\n'));
    const dir = join(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await mesh.stop();
  }
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
