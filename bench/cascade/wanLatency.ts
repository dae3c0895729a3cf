/**
 * Added latency of a cascaded track over the emulated WAN. A WAN-only mesh (namespaces for seoul and
 * frankfurt and the link emulator between them, no Redis or Kafka) on port base 11000; two edges in this
 * process (WanEdge: worker pool, Cascade service, PipeManager) whose mediasoup workers run inside the
 * seoul and frankfurt namespaces. A synthetic VP8 producer on the seoul edge, fed from the launcher's
 * namespace; one plain viewer on the seoul edge (local) and one on the frankfurt edge, behind the SRTP
 * pipe from seoul (remote). Both viewers send to sockets in the launcher's namespace, which reach it
 * over the host link without emulation; so per packet, arrival at the remote viewer minus arrival at
 * the local one is the pipe's path: the emulated one-way delay plus what the cascade adds.
 *
 *   sudo npx tsx bench/cascade/wanLatency.ts [--pps 300] [--payload 1000] [--seconds 20] [--rtts 80,0]
 *                                           [--json bench/cascade/results/wan-latency.json]
 *
 * --rtts: link RTTs (ms) to measure one after the other; 0 leaves the emulator on the path without
 * holding packets (what the pipe and the emulator's pass add alone). Not root: the edges run on
 * loopback instead (said loudly), and the difference is the pipe's cost without any WAN.
 * Ports: mesh base 11000 (WAN subnet 10.110.0.0/16); WebRtcServers 11810/11820, transports 11700–11799,
 * internal gRPC 127.0.0.1:11901/11902.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { PlainRtpEndpoint } from '../../edge/media/PlainRtpEndpoint';
import { vp8RtpParameters } from '../../edge/media/rtpParameters';
import { Mesh } from '../../regions/launcher';
import { wanOrLoopback } from '../../regions/launcher/wan/netns';
import { percentile } from '../percentile';
import { CountingVp8Sender } from './CountingVp8Sender';
import { type Arrival, LatencySink } from './LatencySink';
import { WanEdge } from './WanEdge';

const { values } = parseArgs({
  options: {
    pps: { type: 'string', default: '300' },
    payload: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    rtts: { type: 'string', default: '80,0' },
    json: { type: 'string' },
  },
});
const PPS = Number(values.pps);
const PAYLOAD = Number(values.payload);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const RTTS = values.rtts.split(',').map(Number);
if (![PPS, PAYLOAD, SECONDS, WARMUP].every((v) => Number.isFinite(v) && v > 0) || RTTS.some((r) => !(r >= 0)))
  throw new Error('--pps, --payload, --seconds, --warmup > 0; --rtts a list of RTTs ≥ 0 ms');

const ROOM = 'bench-cascade-latency';
const SSRC = 9200;
const PORT_BASE = 11000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg().map((x) => Number(x.toFixed(2)));

function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: s.length,
    min: round(s[0] ?? Number.NaN),
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    max: round(s.at(-1) ?? Number.NaN),
  };
}

async function main(): Promise<void> {
  const wan = wanOrLoopback({ links: { 'seoul-frankfurt': { rttMs: RTTS[0] ?? 80 } } });
  const rtts = wan ? RTTS : [0];
  if (!wan)
    console.warn(
      '*** bench/cascade/wanLatency: LOOPBACK RUN — both edges on 127.0.0.1, no emulated delay ***',
    );
  let mesh: Mesh | undefined;
  const edges: WanEdge[] = [];
  let sink: LatencySink | undefined;
  let sender: CountingVp8Sender | undefined;
  const stop = async () => {
    sender?.close();
    sender = undefined;
    await sink?.close();
    sink = undefined;
    for (const e of edges.splice(0)) await e.close();
    await mesh?.stop();
    mesh = undefined;
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    if (wan)
      mesh = await Mesh.start({
        name: 'bench-cascade-lat',
        portBase: PORT_BASE,
        regions: ['seoul', 'frankfurt'],
        core: false,
        redis: false,
        kafka: false,
        wan,
      });
    const at = (site: string) => (mesh ? mesh.hostOf(site) : '127.0.0.1');
    const hostAddress = mesh ? mesh.wan!.plan.hostAddress : '127.0.0.1';
    edges.push(
      await WanEdge.start({
        node: 'seoul-edge-1',
        region: 'seoul',
        netns: mesh?.netnsOf('seoul'),
        listenIp: at('seoul'),
        rtcPort: PORT_BASE + 810,
        portRange: { min: PORT_BASE + 700, max: PORT_BASE + 749 },
        internalPort: PORT_BASE + 901,
      }),
      await WanEdge.start({
        node: 'frankfurt-edge-1',
        region: 'frankfurt',
        netns: mesh?.netnsOf('frankfurt'),
        listenIp: at('frankfurt'),
        rtcPort: PORT_BASE + 820,
        portRange: { min: PORT_BASE + 750, max: PORT_BASE + 799 },
        internalPort: PORT_BASE + 902,
      }),
    );
    const [seoul, frankfurt] = edges as [WanEdge, WanEdge];
    sink = await LatencySink.start({ sockets: 2, ip: hostAddress });

    const origin = await seoul.room(ROOM);
    const ingress = await PlainRtpEndpoint.create(origin, { peerId: 'publisher', comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: SSRC }));
    sender = new CountingVp8Sender({ target: ingress.local, pps: PPS, ssrc: SSRC, payloadBytes: PAYLOAD });
    sender.start();
    const local = await PlainRtpEndpoint.create(origin, { peerId: 'local-viewer', remote: sink.address(0) });
    await local.consume(producer.id);
    const far = await frankfurt.room(ROOM);
    const lease = await frankfurt.pipes.acquire({ room: far, producerId: producer.id, source: seoul.ref });
    const remote = await PlainRtpEndpoint.create(far, { peerId: 'remote-viewer', remote: sink.address(1) });
    await remote.consume(producer.id);
    console.log(
      `[bench cascade latency] ${wan ? `emulated WAN (seoul ${at('seoul')}, frankfurt ${at('frankfurt')})` : 'LOOPBACK'}; ` +
        `${PPS} packets/s of ${PAYLOAD} B; ${SECONDS} s per RTT; load ${load().join(' ')}`,
    );

    const phases = [];
    for (const rttMs of rtts) {
      if (mesh) await mesh.wan!.setLink('seoul', 'frankfurt', { rttMs });
      // What the emulator itself holds each packet for, seoul→frankfurt (from its own stats).
      const oneWayMs = mesh ? (await mesh.wan!.linkStats('seoul', 'frankfurt')).config.delayMs : 0;
      await sleep(WARMUP * 1000);
      await sink.take();
      const linkBefore = mesh ? await mesh.wan!.linkStats('seoul', 'frankfurt') : undefined;
      const loadBefore = load();
      await sleep(SECONDS * 1000);
      const [localGot, remoteGot] = (await sink.take()) as [Arrival[], Arrival[]];
      const linkAfter = mesh ? await mesh.wan!.linkStats('seoul', 'frankfurt') : undefined;
      const loadAfter = load();
      const byCounter = new Map(localGot.map((a) => [a.counter, a]));
      const diff: number[] = [];
      for (const r of remoteGot) {
        const l = byCounter.get(r.counter);
        if (l) diff.push(r.at - l.at);
      }
      if (diff.length === 0) throw new Error(`no packet reached both viewers at ${rttMs} ms RTT`);
      const d = summary(diff);
      const crossed = linkBefore && linkAfter ? linkAfter.packets - linkBefore.packets : null;
      // The pipe must really have crossed the emulator (not some other route): at least one packet per packet the remote viewer got.
      if (crossed !== null && crossed < remoteGot.length)
        throw new Error(
          `only ${crossed} packets crossed seoul→frankfurt for ${remoteGot.length} received in frankfurt`,
        );
      const phase = {
        path: mesh ? 'emulated WAN' : 'loopback',
        rttMs,
        configuredOneWayMs: oneWayMs,
        packets: { local: localGot.length, remote: remoteGot.length, matched: diff.length },
        remoteMinusLocalMs: d,
        /** Share of packets that the remote viewer got more than 5 / 20 ms after the configured delay. */
        lateShare: {
          over5ms: diff.filter((x) => x - oneWayMs > 5).length / diff.length,
          over20ms: diff.filter((x) => x - oneWayMs > 20).length / diff.length,
        },
        addedMs: {
          p50: Math.round((d.p50 - oneWayMs) * 1000) / 1000,
          p90: Math.round((d.p90 - oneWayMs) * 1000) / 1000,
          p99: Math.round((d.p99 - oneWayMs) * 1000) / 1000,
          max: Math.round((d.max - oneWayMs) * 1000) / 1000,
        },
        // From the sender's send() to each viewer's sink (both through the seoul worker's ingest).
        localFromSendMs: summary(localGot.map((a) => a.at - a.sent)),
        remoteFromSendMs: summary(remoteGot.map((a) => a.at - a.sent)),
        linkPacketsSeoulToFrankfurt: crossed,
        loadavg: { before: loadBefore, after: loadAfter },
      };
      phases.push(phase);
      const f = (x: number) => x.toFixed(2).padStart(7);
      console.log(
        `\n${mesh ? `RTT ${rttMs} ms` : 'LOOPBACK (no emulator)'} (one way ${oneWayMs} ms): ${diff.length} packets matched (local ${localGot.length}, remote ${remoteGot.length}); load ${loadBefore.join(' ')} → ${loadAfter.join(' ')}`,
      );
      console.log(
        `  remote − local arrival  min ${f(d.min)}  p50 ${f(d.p50)}  p90 ${f(d.p90)}  p99 ${f(d.p99)}  max ${f(d.max)} ms`,
      );
      console.log(
        `  added beyond ${String(oneWayMs).padStart(2)} ms                 p50 ${f(phase.addedMs.p50)}  p90 ${f(phase.addedMs.p90)}  p99 ${f(phase.addedMs.p99)}  max ${f(phase.addedMs.max)} ms`,
      );
      console.log(
        `  packets > 5 ms late ${(phase.lateShare.over5ms * 100).toFixed(1)} %, > 20 ms ${(phase.lateShare.over20ms * 100).toFixed(1)} %`,
      );
      console.log(
        `  send → local viewer  p50 ${f(phase.localFromSendMs.p50)} p99 ${f(phase.localFromSendMs.p99)}; send → remote viewer p50 ${f(phase.remoteFromSendMs.p50)} p99 ${f(phase.remoteFromSendMs.p99)} ms`,
      );
    }
    lease.release();
    const result = {
      date: new Date().toISOString(),
      mode: wan ? 'emulated WAN (network namespaces + linkemu)' : 'LOOPBACK (not root: no emulated WAN)',
      machine: { cpus: cpus().length, model: cpus()[0]?.model },
      settings: { pps: PPS, payload: PAYLOAD, seconds: SECONDS, warmup: WARMUP },
      phases,
    };
    if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
