import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteProducerCloseReason } from '../../../edge/cascade/RemoteProducerLease';
import { PlainRtpEndpoint } from '../../../edge/media/PlainRtpEndpoint';
import { UdpSink } from '../../../edge/media/UdpSink';
import type { NodeRef } from '../../../proto/gen/meetview/cascade/v1/cascade';
import { CascadeEdge } from './cascadeEdge';

// The subscriber edge runs here; each publisher edge is a child process (its own mediasoup worker and
// GStreamer sender, one process group), frozen with SIGSTOP or killed with SIGKILL. Ports: 16460–16480
// WebRtcServer, 20200–20249 pipe/plain transports (test port base 20000).
const ROOM = 'peer-loss';
const KEEPALIVE_MS = 250;
const DEADLINE_MS = 1500;
const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

type Peer = { child: ChildProcess; ref: NodeRef; producerId: string };

function startPeer(node: string, rtcPort: number, portRange: { min: number; max: number }): Promise<Peer> {
  const options = {
    node,
    region: 'A',
    rtcPort,
    portRange,
    keepaliveMs: KEEPALIVE_MS,
    room: ROOM,
    ssrc: 7400,
  };
  // Its own process group: one signal reaches the node process, its worker and its GStreamer.
  const child = spawn(TSX, [join(__dirname, 'peerEdgeMain.ts'), JSON.stringify(options)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<Peer>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`peer edge ${node} did not start in 30 s`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        const { ref, producerId } = JSON.parse(line) as { ref: NodeRef; producerId: string };
        resolve({ child, ref, producerId });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer edge ${node} exited (${code}) before it was ready`));
    });
  });
}

function killGroup(peer: Peer | undefined, signal: NodeJS.Signals): void {
  if (!peer?.child.pid) return;
  try {
    process.kill(-peer.child.pid, signal);
  } catch {
    // Already gone.
  }
}

describe('cascade: a peer edge that stops answering is detected', () => {
  let sub: CascadeEdge;
  const peers: Peer[] = [];
  const owned: { close(): void }[] = [];

  beforeAll(async () => {
    sub = await CascadeEdge.start({
      node: 'B-edge-1',
      region: 'B',
      rtcPort: 16460,
      portRange: { min: 20200, max: 20229 },
      keepaliveDeadlineMs: DEADLINE_MS,
    });
  });

  afterAll(async () => {
    for (const p of peers) {
      killGroup(p, 'SIGCONT');
      killGroup(p, 'SIGKILL');
    }
    for (const o of owned) o.close();
    await sub?.close();
  });

  async function subscribe(peer: Peer) {
    const room = await sub.room(ROOM);
    const lease = await sub.pipes.acquire({ room, producerId: peer.producerId, source: peer.ref });
    const sink = await UdpSink.bind();
    const endpoint = await PlainRtpEndpoint.create(room, { peerId: 'viewer', remote: sink.address });
    owned.push(sink, endpoint);
    const consumer = await endpoint.consume(peer.producerId);
    await sink.waitForPackets(30, 20_000, consumer.rtpParameters.encodings![0]!.ssrc!);
    const closed = new Promise<{ reason: string; at: number }>((resolve) =>
      room.on(
        'consumerclose',
        (e) => e.consumerId === consumer.id && resolve({ reason: e.reason, at: Date.now() }),
      ),
    );
    const ended = new Promise<{ reason: RemoteProducerCloseReason; at: number }>((resolve) =>
      lease.once('close', (reason) => resolve({ reason, at: Date.now() })),
    );
    return { room, lease, closed, ended };
  }

  it('a frozen peer (SIGSTOP: no RST, no keepalive) is given up within the keepalive deadline', async () => {
    const peer = await startPeer('A-edge-7', 16470, { min: 20230, max: 20239 });
    peers.push(peer);
    const { room, closed, ended } = await subscribe(peer);
    const lost = new Promise<number>((r) => sub.pipes.once('peerlost', () => r(Date.now())));
    const t0 = Date.now();
    killGroup(peer, 'SIGSTOP');
    const lostAt = await lost;
    console.log(`frozen peer given up after ${lostAt - t0} ms (deadline ${DEADLINE_MS} ms)`);
    // Not before the deadline (keepalives stopped, nothing failed), and not much after it.
    expect(lostAt - t0).toBeGreaterThanOrEqual(DEADLINE_MS - KEEPALIVE_MS);
    expect(lostAt - t0).toBeLessThan(DEADLINE_MS + 1000);
    expect((await ended).reason).toBe('peerlost');
    // The local viewer's consumer ends (its track is withdrawn, not frozen).
    expect((await closed).reason).toBe('producerclose');
    expect(room.getProducer(peer.producerId)).toBeUndefined();
    expect(sub.pipes.pipes()).toEqual([]);
    expect(await sub.pipeTransportIds(ROOM)).toEqual([]);
    killGroup(peer, 'SIGKILL');
  });

  it('a killed peer (SIGKILL) is given up at once', async () => {
    const peer = await startPeer('A-edge-8', 16480, { min: 20240, max: 20249 });
    peers.push(peer);
    const { ended, closed } = await subscribe(peer);
    const t0 = Date.now();
    killGroup(peer, 'SIGKILL');
    const { reason, at } = await ended;
    expect(reason).toBe('peerlost');
    console.log(`killed peer given up after ${at - t0} ms`);
    expect(at - t0).toBeLessThan(DEADLINE_MS + 1000);
    expect((await closed).reason).toBe('producerclose');
    expect(sub.pipes.pipes()).toEqual([]);
  });
});
