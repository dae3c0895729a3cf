import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, processesUnder } from '../../../regions/launcher';
import { isPidAlive } from '../../../regions/launcher/system';
import { listNetns, wanSupport } from '../../../regions/launcher/wan/netns';
import { percentile, ping, startEcho } from '../../../regions/launcher/wan/runProbe';
import { readWanInfo } from '../../../regions/launcher/wan/Wan';
import { netnsPrefix } from '../../../regions/launcher/wan/WanPlan';

// The emulated WAN on its own (no Redis or Kafka): namespaces, the link emulator, partitions.
const BASE = 19000;
const NAME = 'test-wan-link';
const UDP = BASE + 250;
const TCP = BASE + 251;
let mesh: Mesh;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stdev = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

beforeAll(async () => {
  const support = wanSupport();
  if (!support.ok)
    throw new Error(`the WAN tests need root, iproute2 and /dev/net/tun: ${support.reason} (run as root)`);
  mesh = await Mesh.start({
    name: NAME,
    portBase: BASE,
    redis: false,
    kafka: false,
    wan: true,
    onProgress: (l) => console.log(l),
  });
  for (const site of ['seoul', 'frankfurt', 'core']) {
    await startEcho(mesh, site, 'udp', UDP);
    await startEcho(mesh, site, 'tcp', TCP);
  }
});

afterAll(async () => {
  await mesh?.stop();
});

const to = (site: string, port = UDP) => ({ host: mesh.hostOf(site), port });

describe('emulated WAN', () => {
  it('gives every site its own namespace and address, reachable from the launcher without delay', async () => {
    const names = listNetns().filter((n) => n.startsWith(netnsPrefix(NAME)));
    expect(names.sort()).toEqual(
      ['core', 'frankfurt', 'seoul', 'wan'].map((s) => `${netnsPrefix(NAME)}${s}`),
    );
    expect(new Set(['seoul', 'frankfurt', 'core'].map((s) => mesh.hostOf(s))).size).toBe(3);
    // For processes other than the launcher: wan.json says where each site is.
    const info = readWanInfo(mesh.dir)!;
    expect(info.sites.seoul).toEqual({ netns: mesh.netnsOf('seoul'), address: mesh.hostOf('seoul') });
    expect(info.links.find((l) => l.a === 'seoul' && l.b === 'frankfurt')!.rttMs).toBe(80);
    // From the launcher's namespace (the host link) there is no emulated delay.
    const direct = await ping(mesh, null, 'udp', to('seoul'), { count: 20, intervalMs: 10 });
    expect(direct.received).toBe(20);
    expect(percentile(direct.rttMs, 50)).toBeLessThan(20);
  });

  it('adds the configured RTT to UDP between regions (80 ms) and to the core (150 ms), never less', async () => {
    const sf = await ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 100, intervalMs: 10 });
    const fs = await ping(mesh, 'frankfurt', 'udp', to('seoul'), { count: 50, intervalMs: 10 });
    const sc = await ping(mesh, 'seoul', 'udp', to('core'), { count: 50, intervalMs: 10 });
    const line = (name: string, r: { rttMs: number[]; received: number; sent: number }) =>
      console.log(
        `${name}: ${r.received}/${r.sent} min ${Math.min(...r.rttMs).toFixed(1)} p50 ${percentile(r.rttMs, 50).toFixed(1)} p99 ${percentile(r.rttMs, 99).toFixed(1)} ms`,
      );
    line('udp seoul->frankfurt', sf);
    line('udp frankfurt->seoul', fs);
    line('udp seoul->core', sc);
    for (const r of [sf, fs, sc]) expect(r.received).toBe(r.sent);
    // The delay line never delivers early: the emulated delay is a floor.
    expect(Math.min(...sf.rttMs, ...fs.rttMs)).toBeGreaterThanOrEqual(79.9);
    expect(percentile(sf.rttMs, 50)).toBeLessThan(90);
    expect(percentile(fs.rttMs, 50)).toBeLessThan(90);
    expect(Math.min(...sc.rttMs)).toBeGreaterThanOrEqual(149.9);
    expect(percentile(sc.rttMs, 50)).toBeLessThan(160);
  });

  it('adds the RTT to TCP too: the handshake and each round trip', async () => {
    const r = await ping(mesh, 'seoul', 'tcp', to('frankfurt', TCP), { count: 10 });
    console.log(
      `tcp seoul->frankfurt: connect ${r.connectMs!.toFixed(1)} ms, rtt p50 ${percentile(r.rttMs, 50).toFixed(1)} ms`,
    );
    expect(r.connectMs!).toBeGreaterThanOrEqual(79.9);
    expect(Math.min(...r.rttMs)).toBeGreaterThanOrEqual(79.9);
    expect(percentile(r.rttMs, 50)).toBeLessThan(90);
  });

  it('drops the configured share of packets, in each direction', async () => {
    await mesh.wan!.setLink('seoul', 'frankfurt', { loss: 0.1 });
    const before = await mesh.wan!.linkStats('seoul', 'frankfurt');
    const r = await ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 600, intervalMs: 3 });
    const after = await mesh.wan!.linkStats('seoul', 'frankfurt');
    await mesh.wan!.setLink('seoul', 'frankfurt', { loss: 0 });
    const oneWay = (after.lossDrops - before.lossDrops) / (after.packets - before.packets);
    const roundTrip = 1 - r.received / r.sent;
    console.log(
      `loss 10% per direction: emulator dropped ${(oneWay * 100).toFixed(1)}% seoul->frankfurt; round trips lost ${(roundTrip * 100).toFixed(1)}% (expected 19%)`,
    );
    expect(oneWay).toBeGreaterThan(0.06);
    expect(oneWay).toBeLessThan(0.14);
    expect(roundTrip).toBeGreaterThan(0.12);
    expect(roundTrip).toBeLessThan(0.26);
    // Back to lossless.
    const clean = await ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 50, intervalMs: 5 });
    expect(clean.received).toBe(50);
  });

  it('adds jitter without reordering', async () => {
    await mesh.wan!.setLink('seoul', 'frankfurt', { jitterMs: 10 });
    const r = await ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 100, intervalMs: 20 });
    await mesh.wan!.setLink('seoul', 'frankfurt', { jitterMs: 0 });
    console.log(
      `jitter 10 ms per direction: rtt p50 ${percentile(r.rttMs, 50).toFixed(1)} stdev ${stdev(r.rttMs).toFixed(1)} ms`,
    );
    expect(r.received).toBe(100);
    expect(r.outOfOrder).toBe(0);
    expect(stdev(r.rttMs)).toBeGreaterThan(5);
    expect(Math.min(...r.rttMs)).toBeGreaterThanOrEqual(40);
  });

  it('partition stops traffic between two regions both ways (and only there); heal restores it', async () => {
    await mesh.wan!.partition('seoul', 'frankfurt');
    const [sf, fs, sc] = await Promise.all([
      ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 20, intervalMs: 10, waitMs: 500 }),
      ping(mesh, 'frankfurt', 'udp', to('seoul'), { count: 20, intervalMs: 10, waitMs: 500 }),
      ping(mesh, 'seoul', 'udp', to('core'), { count: 20, intervalMs: 10, waitMs: 500 }),
    ]);
    const tcp = await ping(mesh, 'frankfurt', 'tcp', to('seoul', TCP), { count: 1, timeoutMs: 1500 }).then(
      () => 'connected',
      () => 'failed',
    );
    expect(tcp).toBe('failed');
    expect(sf.received).toBe(0);
    expect(fs.received).toBe(0);
    expect(sc.received).toBe(20);
    const stats = await mesh.wan!.stats();
    expect(stats.find((s) => s.from === 'seoul' && s.to === 'frankfurt')!.downDrops).toBeGreaterThan(0);
    expect(stats.find((s) => s.from === 'frankfurt' && s.to === 'seoul')!.downDrops).toBeGreaterThan(0);

    await mesh.wan!.heal('seoul', 'frankfurt');
    const healed = await ping(mesh, 'seoul', 'udp', to('frankfurt'), { count: 20, intervalMs: 10 });
    expect(healed.received).toBe(20);
    expect(Math.min(...healed.rttMs)).toBeGreaterThanOrEqual(79.9);
    const tcpHealed = await ping(mesh, 'frankfurt', 'tcp', to('seoul', TCP), { count: 3, timeoutMs: 3000 });
    expect(tcpHealed.received).toBe(3);
  });

  it('stop leaves no namespace, link, emulator or probe process behind', async () => {
    const emulatorPid = mesh.wan!.emulator!.process.pid!;
    const hostIf = mesh.wan!.plan.hostIf;
    await mesh.stop();
    expect(listNetns().filter((n) => n.startsWith(netnsPrefix(NAME)))).toEqual([]);
    expect(existsSync(`/sys/class/net/${hostIf}`)).toBe(false);
    expect(isPidAlive(emulatorPid)).toBe(false);
    expect(processesUnder(mesh.dir)).toEqual([]);
  });
});
