/**
 * What the cascade costs. Three edges in this process (A1 and A2 in region A, B1 in region B), each
 * with its own mediasoup worker, the Cascade service on its internal gRPC server and a PipeManager —
 * the same classes EdgeNode wires. A node sender feeds one synthetic VP8 producer on A1 at a fixed
 * packet rate; UDP sinks in their own thread count what viewers get.
 *
 *  1. CPU per forwarded packet: a local plain consumer on A1, against the same viewer on A2 through a
 *     pipe (A1 sends into the pipe, A2 receives and forwards), and on B1 through an SRTP pipe.
 *     Worker CPU is utime + stime from /proc/<pid>/stat; the ingest-only cost of A1 is subtracted.
 *  2. Inter-edge bytes per track with 1, 5 and 20 viewers on B1: bytes into B1's pipe transport per
 *     byte the producer received (must stay 1×), against what the viewers receive together (N×).
 *
 *   npx tsx bench/cascade/pipeCost.ts [--pps 1000] [--payload 1000] [--seconds 8] [--warmup 1.5] [--json out.json]
 *
 * Ports (port base 20500): WebRtcServers 16510/16520/16530, pipe and plain transports 20500–20699.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { RemoteProducerLease } from '../../edge/cascade/RemoteProducerLease';
import { PlainRtpEndpoint } from '../../edge/media/PlainRtpEndpoint';
import type { Room } from '../../edge/media/Room';
import { vp8RtpParameters } from '../../edge/media/rtpParameters';
import { CascadeEdge } from '../../test/services/cascade/cascadeEdge';
import { SinkThread, udpDrops } from '../media/SinkThread';
import { SyntheticVp8Sender } from '../media/SyntheticVp8Sender';

const { values } = parseArgs({
  options: {
    pps: { type: 'string', default: '1000' },
    payload: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1.5' },
    json: { type: 'string' },
  },
});
const pps = Number(values.pps);
const payload = Number(values.payload);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
for (const [name, v] of Object.entries({ pps, payload, seconds, warmup }))
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);

const ROOM = 'bench-cascade';
const SSRC = 9100;
const CLOCK_TICKS_PER_S = 100;

async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Window = {
  seconds: number;
  cpuMs: Record<string, number>;
  producerPackets: number;
  producerBytes: number;
  sinkPackets: number;
  sinkBytes: number;
  /** RTP bytes into the subscriber edge's pipe transport (what arrived). */
  pipeBytes: number;
  /** RTP bytes out of A1's pipe transports (what crossed between the edges). */
  pipeSentBytes: number;
  /** Kernel receive drops on the subscriber's pipe socket (a starved worker reads too late). */
  pipeSocketDrops: number;
};

const edges = await Promise.all([
  CascadeEdge.start({ node: 'A-edge-1', region: 'A', rtcPort: 16510, portRange: { min: 20500, max: 20599 } }),
  CascadeEdge.start({ node: 'A-edge-2', region: 'A', rtcPort: 16520, portRange: { min: 20600, max: 20649 } }),
  CascadeEdge.start({ node: 'B-edge-1', region: 'B', rtcPort: 16530, portRange: { min: 20650, max: 20699 } }),
]);
const [a1, a2, b1] = edges as [CascadeEdge, CascadeEdge, CascadeEdge];
const sinks = await SinkThread.start({ sockets: 1 });
const sinkAddress = sinks.addresses[0]!;
let sender: SyntheticVp8Sender | undefined;

try {
  const origin = await a1.room(ROOM);
  const ingress = await PlainRtpEndpoint.create(origin, { peerId: 'publisher', comedia: true });
  const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: SSRC }));
  const pids: Record<string, number> = {};
  for (const e of edges) pids[e.ref.node] = (await e.room(ROOM)).workerPid;

  /** Counters over one window (after a warmup), `pipeRoom` the subscriber room whose pipe is counted. */
  async function measure(pipeRoom?: Room): Promise<Window> {
    await sleep(warmup * 1000);
    const pipeId = pipeRoom ? (await edgeOf(pipeRoom).pipeTransportIds(ROOM))[0] : undefined;
    const originPipes = pipeRoom ? await a1.pipeTransportIds(ROOM) : [];
    const pipePort =
      pipeRoom && pipeId
        ? ((await pipeRoom.getTransportStats(pipeId))[0] as { tuple?: { localPort: number } }).tuple
            ?.localPort
        : undefined;
    const read = async () => {
      const cpu: Record<string, number> = {};
      for (const [node, pid] of Object.entries(pids)) cpu[node] = await cpuMs(pid);
      // Asked at once, so that the producer's and the pipe's counters cover (nearly) the same interval.
      const [[p], sink, pipe, sent, drops] = await Promise.all([
        origin.getProducerStats(producer.id),
        sinks.count(),
        pipeRoom && pipeId
          ? pipeRoom.getTransportStats(pipeId).then((s) => s[0]!.rtpBytesReceived)
          : Promise.resolve(0),
        Promise.all(originPipes.map((id) => origin.getTransportStats(id))).then((all) =>
          all.reduce((sum, s) => sum + (s[0]?.rtpBytesSent ?? 0), 0),
        ),
        pipePort ? udpDrops([pipePort]) : Promise.resolve(0),
      ]);
      return {
        cpu,
        at: performance.now(),
        packets: p?.packetCount ?? 0,
        bytes: p?.byteCount ?? 0,
        sink,
        pipe,
        sent,
        drops,
      };
    };
    const r0 = await read();
    await sleep(seconds * 1000);
    const r1 = await read();
    const cpu: Record<string, number> = {};
    for (const node of Object.keys(pids)) cpu[node] = r1.cpu[node]! - r0.cpu[node]!;
    return {
      seconds: (r1.at - r0.at) / 1000,
      cpuMs: cpu,
      producerPackets: r1.packets - r0.packets,
      producerBytes: r1.bytes - r0.bytes,
      sinkPackets: r1.sink.rtp - r0.sink.rtp,
      sinkBytes: r1.sink.bytes - r0.sink.bytes,
      pipeBytes: r1.pipe - r0.pipe,
      pipeSentBytes: r1.sent - r0.sent,
      pipeSocketDrops: r1.drops - r0.drops,
    };
  }

  function edgeOf(room: Room): CascadeEdge {
    return edges.find((e) => e.pool.getRoom(ROOM) === room)!;
  }

  async function viewers(room: Room, n: number): Promise<PlainRtpEndpoint[]> {
    const out: PlainRtpEndpoint[] = [];
    for (let i = 0; i < n; i++) {
      // All viewers send to one sink socket; each consumer has its own SSRC.
      const endpoint = await PlainRtpEndpoint.create(room, { peerId: `viewer-${i}`, remote: sinkAddress });
      await endpoint.consume(producer.id);
      out.push(endpoint);
    }
    return out;
  }

  const idle = await measure();
  sender = new SyntheticVp8Sender({ target: ingress.local, pps, ssrc: SSRC, payloadBytes: payload });
  sender.start();
  console.log(`[bench cascade] ${pps} packets/s of ${payload} B VP8 into A-edge-1; windows of ${seconds} s`);

  const ingest = await measure();

  const localViewers = await viewers(origin, 1);
  const local = await measure();
  for (const v of localViewers) v.close();

  async function throughPipe(sub: CascadeEdge): Promise<Window> {
    const room = await sub.room(ROOM);
    const lease = await sub.pipes.acquire({ room, producerId: producer.id, source: a1.ref });
    const vs = await viewers(room, 1);
    const w = await measure(room);
    for (const v of vs) v.close();
    lease.release();
    await sleep(300);
    return w;
  }
  const pipeA = await throughPipe(a2);
  const pipeB = await throughPipe(b1);

  // Inter-edge bytes against the number of viewers behind one pipe (B1, SRTP).
  const fanout: { viewers: number; window: Window; pipes: number; pipeTransportsAtA1: number }[] = [];
  {
    const room = await b1.room(ROOM);
    const leases: RemoteProducerLease[] = [];
    const vs: PlainRtpEndpoint[] = [];
    for (const n of [1, 5, 20]) {
      while (leases.length < n)
        leases.push(await b1.pipes.acquire({ room, producerId: producer.id, source: a1.ref }));
      vs.push(...(await viewers(room, n - vs.length)));
      const window = await measure(room);
      fanout.push({
        viewers: n,
        window,
        pipes: a1.service.pipes().length,
        pipeTransportsAtA1: (await a1.pipeTransportIds(ROOM)).length,
      });
    }
    for (const v of vs) v.close();
    for (const l of leases) l.release();
  }
  sender.stop();

  // Per forwarded packet: worker CPU beyond A1's ingest-only cost, in microseconds.
  const usPerPacket = (ms: number, packets: number) => (packets > 0 ? (ms * 1000) / packets : Number.NaN);
  const perSecond = (w: Window, node: string) => w.cpuMs[node]! / w.seconds;
  const ingestRate = perSecond(ingest, 'A-edge-1');
  const idleRate = (node: string) => perSecond(idle, node);
  const extraA1 = (w: Window) => (perSecond(w, 'A-edge-1') - ingestRate) * w.seconds;
  const subCost = (w: Window, node: string) => (perSecond(w, node) - idleRate(node)) * w.seconds;
  const localUs = usPerPacket(extraA1(local), local.sinkPackets);
  const pipeRows = [
    { name: 'pipe A1→A2 (same region)', w: pipeA, sub: 'A-edge-2' },
    { name: 'pipe A1→B1 (SRTP)', w: pipeB, sub: 'B-edge-1' },
  ].map(({ name, w, sub }) => {
    const send = usPerPacket(extraA1(w), w.sinkPackets);
    const receive = usPerPacket(subCost(w, sub), w.sinkPackets);
    return {
      name,
      sendUs: send,
      receiveAndForwardUs: receive,
      totalUs: send + receive,
      ratioToLocal: (send + receive) / localUs,
    };
  });

  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  console.log(
    `\nCPU per forwarded packet (µs of worker CPU; A1 ingest alone: ${f(usPerPacket(ingest.cpuMs['A-edge-1']!, ingest.producerPackets))} µs/packet received)`,
  );
  console.log(`  local consumer on A1                      ${f(localUs)} µs`);
  for (const r of pipeRows)
    console.log(
      `  ${r.name.padEnd(26)} send ${f(r.sendUs)} + receive/forward ${f(r.receiveAndForwardUs)} = ${f(r.totalUs)} µs  (${f(r.ratioToLocal)}× a local consumer)`,
    );
  console.log('\nInter-edge bytes per track (B1 viewers behind one SRTP pipe from A1)');
  console.log(
    '  viewers  pipes@A1  sent into pipe/producer  arrived/producer  viewers/producer  pipe socket drops',
  );
  for (const r of fanout)
    console.log(
      `  ${String(r.viewers).padStart(7)}  ${String(r.pipes).padStart(8)}  ${f(r.window.pipeSentBytes / r.window.producerBytes, 3).padStart(23)}  ${f(r.window.pipeBytes / r.window.producerBytes, 3).padStart(16)}  ${f(r.window.sinkBytes / r.window.producerBytes, 2).padStart(16)}  ${String(r.window.pipeSocketDrops).padStart(17)}`,
    );

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
    settings: { pps, payload, seconds, warmup },
    windows: { idle, ingest, local, pipeA, pipeB },
    cpuPerPacketUs: { local: localUs, pipes: pipeRows },
    fanout: fanout.map((r) => ({
      viewers: r.viewers,
      pipesAtOrigin: r.pipes,
      pipeTransportsAtOrigin: r.pipeTransportsAtA1,
      pipeSentBytesPerProducerByte: r.window.pipeSentBytes / r.window.producerBytes,
      pipeBytesPerProducerByte: r.window.pipeBytes / r.window.producerBytes,
      viewerBytesPerProducerByte: r.window.sinkBytes / r.window.producerBytes,
      window: r.window,
    })),
  };
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  sender?.close();
  await sinks.close();
  await Promise.all(edges.map((e) => e.close()));
}
