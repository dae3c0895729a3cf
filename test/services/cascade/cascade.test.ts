import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { types } from 'mediasoup';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CascadeClient } from '../../../edge/cascade/CascadeClient';
import { CascadeError } from '../../../edge/cascade/CascadeError';
import type {
  RemoteProducerCloseReason,
  RemoteProducerLease,
} from '../../../edge/cascade/RemoteProducerLease';
import { PlainRtpEndpoint } from '../../../edge/media/PlainRtpEndpoint';
import type { Room } from '../../../edge/media/Room';
import { RtpSourceProcess } from '../../../edge/media/RtpSourceProcess';
import { vp8RtpParameters } from '../../../edge/media/rtpParameters';
import { UdpSink } from '../../../edge/media/UdpSink';
import { InternalTokens } from '../../../lib/auth/internal';
import { KeySet } from '../../../lib/auth/keys';
import { CascadeServiceClient } from '../../../proto/gen/meetview/cascade/v1/cascade';
import { CascadeEdge } from './cascadeEdge';

// Four edges in this process (two in region A, two in B), each with a real mediasoup worker and its
// internal gRPC server; a real GStreamer VP8 stream published on A1. Ports: 164x0 WebRtcServer,
// 20300–20499 for pipe and plain transports (the test's port base is 20000).
const ROOM = 'cascade-room';
const SSRC = 7100;

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
  ]);
}

async function codeOf(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (error) {
    // Every cascade failure is a CascadeError carrying the gRPC status code.
    expect(error).toBeInstanceOf(CascadeError);
    return { code: (error as CascadeError).code, message: (error as Error).message };
  }
  throw new Error('expected the call to fail');
}

describe('cascade: pipes between edges', () => {
  let a1: CascadeEdge;
  let a2: CascadeEdge;
  let b1: CascadeEdge;
  let b2: CascadeEdge;
  let origin: Room;
  let producerId: string;
  let gst: RtpSourceProcess;
  const owned: { close(): void }[] = [];
  const pipeTransports = new Map<string, types.PipeTransport>();

  beforeAll(async () => {
    const range = (i: number) => ({ min: 20300 + i * 50, max: 20349 + i * 50 });
    [a1, a2, b1, b2] = await Promise.all([
      CascadeEdge.start({
        node: 'A-edge-1',
        region: 'A',
        rtcPort: 16410,
        portRange: range(0),
        lingerMs: 600,
      }),
      CascadeEdge.start({ node: 'A-edge-2', region: 'A', rtcPort: 16420, portRange: range(1) }),
      CascadeEdge.start({ node: 'B-edge-1', region: 'B', rtcPort: 16430, portRange: range(2) }),
      CascadeEdge.start({ node: 'B-edge-2', region: 'B', rtcPort: 16440, portRange: range(3) }),
    ]);
    // mediasoup's own view of every pipe transport (for its SRTP parameters).
    for (const edge of [a1, a2, b1, b2])
      edge.pool.worker(0)!.worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (t) => {
          if (t.type === 'pipe') pipeTransports.set(t.id, t as types.PipeTransport);
        }),
      );
    origin = await a1.room(ROOM);
    const ingress = await PlainRtpEndpoint.create(origin, { peerId: 'alice', comedia: true });
    producerId = (await ingress.produce('video', vp8RtpParameters({ ssrc: SSRC }), { source: 'camera' })).id;
    gst = RtpSourceProcess.gstreamerVp8({ ...ingress.local, ssrc: SSRC });
  });

  // Each test starts from no pipes, whatever the previous one left when it failed.
  const leases: RemoteProducerLease[] = [];
  async function hold(edge: CascadeEdge, options: Parameters<CascadeEdge['pipes']['acquire']>[0]) {
    const lease = await edge.pipes.acquire(options);
    leases.push(lease);
    return lease;
  }
  afterEach(async () => {
    for (const l of leases.splice(0)) l.release();
    for (const o of owned.splice(0)) o.close();
    const deadline = Date.now() + 5000;
    while ([a1, a2, b1, b2].some((e) => e.service.pipes().length > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(async () => {
    await gst?.stop();
    for (const o of owned) o.close();
    await Promise.all([a1, a2, b1, b2].map((e) => e?.close()));
  });

  /** N plain consumers of `id` in `room`, each sending to its own UDP sink. */
  async function viewers(room: Room, id: string, n: number) {
    const result: { sink: UdpSink; ssrc: number; consumerId: string; endpoint: PlainRtpEndpoint }[] = [];
    for (let i = 0; i < n; i++) {
      const sink = await UdpSink.bind();
      const endpoint = await PlainRtpEndpoint.create(room, { peerId: `viewer-${i}`, remote: sink.address });
      owned.push(sink, endpoint);
      const c = await endpoint.consume(id);
      result.push({ sink, ssrc: c.rtpParameters.encodings![0]!.ssrc!, consumerId: c.id, endpoint });
    }
    return result;
  }

  it('carries a producer to consumers on another edge through one pipe, one copy for N viewers', async () => {
    const room = await a2.room(ROOM);
    const leases = await Promise.all([1, 2, 3].map(() => hold(a2, { room, producerId, source: a1.ref })));
    // One pipe, one piped producer with three holders, on both sides.
    expect(a2.pipes.pipes()).toEqual([
      expect.objectContaining({ peer: 'A-edge-1', srtp: false, producers: [{ producerId, holders: 3 }] }),
    ]);
    expect(a1.service.pipes()).toEqual([
      expect.objectContaining({ callerNode: 'A-edge-2', producers: [producerId] }),
    ]);
    expect(await a2.pipeTransportIds(ROOM)).toHaveLength(1);
    expect(await a1.pipeTransportIds(ROOM)).toHaveLength(1);
    // The local copy keeps the owner's id, kind and appData.
    expect(room.getProducer(producerId)).toMatchObject({
      kind: 'video',
      appData: { source: 'camera', ownerPeerId: 'alice' },
    });
    expect(leases[0]!.appData).toMatchObject({ source: 'camera', peerId: 'alice' });

    const views = await viewers(room, producerId, 3);
    for (const v of views) await v.sink.waitForPackets(60, 20_000, v.ssrc);

    // Bytes over the same 3 s: what crossed the pipe is one copy of what the producer received, while
    // the three viewers together got three.
    const [pipeId] = await a2.pipeTransportIds(ROOM);
    // Both workers asked at once, so that the two counters cover (nearly) the same interval.
    const sample = async () => {
      const [p, t] = await Promise.all([
        origin.getProducerStats(producerId),
        room.getTransportStats(pipeId!),
      ]);
      return {
        producer: p[0]!.byteCount,
        pipe: t[0]!.rtpBytesReceived,
        sinks: views.reduce((sum, v) => sum + v.sink.bytes, 0),
      };
    };
    const s0 = await sample();
    await new Promise((r) => setTimeout(r, 3000));
    const s1 = await sample();
    const ratio = (s1.pipe - s0.pipe) / (s1.producer - s0.producer);
    expect(s1.pipe - s0.pipe).toBeGreaterThan(10_000);
    expect(ratio).toBeGreaterThan(0.8);
    // One copy (the pipe adds ~2 % of header extensions; a second copy would make it 2).
    expect(ratio).toBeLessThan(1.25);
    expect((s1.sinks - s0.sinks) / (s1.pipe - s0.pipe)).toBeGreaterThan(2.4);
    // The pipe carries no SRTP inside a region.
    expect(pipeTransports.get(pipeId!)!.srtpParameters).toBeUndefined();

    // Releases: the pipe stays while anyone holds the producer, and goes (on both sides) with the last.
    leases[0]!.release();
    leases[1]!.release();
    leases[1]!.release(); // idempotent
    expect(a2.pipes.pipes()[0]?.producers).toEqual([{ producerId, holders: 1 }]);
    expect(room.getProducer(producerId)).toBeDefined();
    for (const v of views) v.endpoint.close();
    leases[2]!.release();
    expect(a2.pipes.pipes()).toEqual([]);
    expect(room.getProducer(producerId)).toBeUndefined();
    await until('the pipe closed on the owner edge', () => a1.service.pipes().length === 0);
    expect(await a2.pipeTransportIds(ROOM)).toEqual([]);
    expect(await a1.pipeTransportIds(ROOM)).toEqual([]);
  });

  it('propagates pause, resume and close of the owner producer; key frame requests and layer wishes reach the owner', async () => {
    // A second producer on A1 that this test closes.
    const ingress = await PlainRtpEndpoint.create(origin, { peerId: 'bob', comedia: true });
    owned.push(ingress);
    const bobSsrc = 7200;
    const bob = await ingress.produce('video', vp8RtpParameters({ ssrc: bobSsrc }), { source: 'camera' });
    const bobGst = RtpSourceProcess.gstreamerVp8({ ...ingress.local, ssrc: bobSsrc });
    try {
      const room = await a2.room(ROOM);
      const lease = await hold(a2, { room, producerId: bob.id, source: a1.ref });
      const second = await hold(a2, { room, producerId: bob.id, source: a1.ref });
      const [view] = await viewers(room, bob.id, 1);
      await view!.sink.waitForPackets(30, 20_000, view!.ssrc);

      await origin.pauseProducer(bob.id);
      await until('the piped copy paused', () => room.getProducer(bob.id)?.paused === true, 3000);
      await origin.resumeProducer(bob.id);
      await until('the piped copy resumed', () => room.getProducer(bob.id)?.paused === false, 3000);

      // Key frame requests: a local viewer's (RTCP PLI across the pipe) and the explicit call both make
      // the owner's producer ask its sender. mediasoup holds a pending request for up to 1 s.
      const pli = async () => (await origin.getProducerStats(bob.id))[0]!.pliCount;
      await new Promise((r) => setTimeout(r, 1200));
      const before = await pli();
      await room.requestKeyFrame(view!.consumerId);
      await until('a PLI from the remote viewer at the owner', async () => (await pli()) > before, 3000);
      await new Promise((r) => setTimeout(r, 1200));
      const mid = await pli();
      await lease.requestKeyFrame();
      await until('a PLI from the RequestKeyFrame call at the owner', async () => (await pli()) > mid, 3000);

      // Layer wishes: the owner hears the highest over the holders.
      const wishes: (types.ConsumerLayers | undefined)[] = [];
      a1.service.on('preferredlayers', (e) => {
        if (e.producerId === bob.id) wishes.push(e.layers);
      });
      await lease.setPreferredLayers({ spatialLayer: 0 });
      await second.setPreferredLayers({ spatialLayer: 2, temporalLayer: 1 });
      await until('two layer wishes', () => wishes.length === 2);
      expect(wishes).toEqual([{ spatialLayer: 0 }, { spatialLayer: 2, temporalLayer: 1 }]);
      expect(a1.service.wantedLayers(ROOM, bob.id)).toEqual({ spatialLayer: 2, temporalLayer: 1 });

      // Close on the owner: the holders hear why, the local viewer's consumer closes, the pipe goes.
      const leaseClosed = new Promise<RemoteProducerCloseReason>((r) => lease.once('close', r));
      const managerSaw = new Promise((r) => a2.pipes.once('remoteproducerclose', r));
      const consumerClosed = new Promise((r) =>
        room.on('consumerclose', (e) => e.consumerId === view!.consumerId && r(e.reason)),
      );
      origin.closeProducer(bob.id);
      expect(await within(leaseClosed, 3000, 'lease close')).toBe('producerclosed');
      expect(await within(managerSaw, 3000, 'remoteproducerclose')).toEqual({
        room: ROOM,
        producerId: bob.id,
        peer: 'A-edge-1',
        reason: 'producerclosed',
      });
      expect(await within(consumerClosed, 3000, 'consumer close')).toBe('producerclose');
      expect(second.closed).toBe(true);
      expect(room.getProducer(bob.id)).toBeUndefined();
      await until(
        'the empty pipe closed on both edges',
        () => a1.service.pipes().length === 0 && a2.pipes.pipes().length === 0,
      );
      expect(await a1.pipeTransportIds(ROOM)).toEqual([]);
    } finally {
      await bobGst.stop();
    }
  });

  it('uses SRTP on a pipe between regions, and relays: a second edge of region B pipes from the first', async () => {
    const roomB1 = await b1.room(ROOM);
    const roomB2 = await b2.room(ROOM);
    const atB1 = await hold(b1, { room: roomB1, producerId, source: a1.ref });
    const [pipeB1] = await b1.pipeTransportIds(ROOM);
    const [pipeA1] = await a1.pipeTransportIds(ROOM);
    // Both ends of the cross-region pipe use SRTP, each with its own key.
    const b1Srtp = pipeTransports.get(pipeB1!)!.srtpParameters;
    const a1Srtp = pipeTransports.get(pipeA1!)!.srtpParameters;
    expect(b1Srtp?.cryptoSuite).toMatch(/^AEAD_AES_|^AES_CM_/);
    expect(a1Srtp?.cryptoSuite).toBe(b1Srtp?.cryptoSuite);
    expect(a1Srtp?.keyBase64).not.toBe(b1Srtp?.keyBase64);
    expect(b1.pipes.pipes()[0]).toMatchObject({ srtp: true, peer: 'A-edge-1' });

    // B2 asks B1 (the region's relay), naming the origin; B1 already has a copy.
    const atB2 = await hold(b2, { room: roomB2, producerId, source: b1.ref, origin: a1.ref });
    const [v1] = await viewers(roomB1, producerId, 1);
    const views2 = await viewers(roomB2, producerId, 2);
    for (const v of [v1!, ...views2]) await v.sink.waitForPackets(60, 20_000, v.ssrc);
    // One pipe leaves A for region B: A1 serves B1 only.
    expect(a1.service.pipes()).toEqual([
      expect.objectContaining({ callerNode: 'B-edge-1', producers: [producerId] }),
    ]);
    expect(b1.service.pipes()).toEqual([
      expect.objectContaining({ callerNode: 'B-edge-2', producers: [producerId] }),
    ]);
    expect(b2.pipes.pipes()[0]).toMatchObject({ srtp: false, peer: 'B-edge-1' });

    // B1's own holder goes: the relay keeps the copy while B2 pipes it.
    v1!.endpoint.close();
    atB1.release();
    expect(roomB1.getProducer(producerId)).toBeDefined();
    const received = views2[0]!.sink.bytes;
    await until('media still reaching B2', () => views2[0]!.sink.bytes > received + 5000);
    // B2 releases: B1's relay copy and the pipe from A go too.
    for (const v of views2) v.endpoint.close();
    atB2.release();
    await until('the relay released its copy', () => roomB1.getProducer(producerId) === undefined);
    await until(
      'no pipe left at A1 or B1',
      () => a1.service.pipes().length === 0 && b1.service.pipes().length === 0,
    );
    expect(await b1.pipeTransportIds(ROOM)).toEqual([]);
  });

  it('relays on demand: a relay that has no copy yet pipes it from the origin first', async () => {
    const roomB2 = await b2.room(ROOM);
    await b1.room(ROOM);
    const lease = await hold(b2, { room: roomB2, producerId, source: b1.ref, origin: a1.ref });
    const [v] = await viewers(roomB2, producerId, 1);
    await v!.sink.waitForPackets(30, 20_000, v!.ssrc);
    expect(b1.pipes.pipes()).toEqual([
      expect.objectContaining({ peer: 'A-edge-1', producers: [{ producerId, holders: 1 }] }),
    ]);
    v!.endpoint.close();
    lease.release();
    await until(
      'everything closed',
      () => a1.service.pipes().length === 0 && b1.service.pipes().length === 0,
    );
  });

  it('refuses calls without a valid internal token (UNAUTHENTICATED)', async () => {
    const raw = new CascadeServiceClient(a1.ref.address, credentials.createInsecure());
    const foreign = new InternalTokens(KeySet.parse(`other:${'x'.repeat(48)}`));
    try {
      const call = (metadata: Metadata) =>
        new Promise<number>((resolve) =>
          raw.pipeProducer({ pipeId: 'p', producerId, origin: undefined }, metadata, (err) =>
            resolve(err?.code ?? status.OK),
          ),
        );
      expect(await call(new Metadata())).toBe(status.UNAUTHENTICATED);
      const forged = new Metadata();
      forged.set('authorization', `Bearer ${await foreign.mint('B-edge-9')}`);
      expect(await call(forged)).toBe(status.UNAUTHENTICATED);
    } finally {
      raw.close();
    }
  });

  it('answers typed errors: NOT_FOUND for an unknown producer or room, INVALID_ARGUMENT for bad requests', async () => {
    const room = await a2.room(ROOM);
    const missing = await codeOf(a2.pipes.acquire({ room, producerId: 'no-such-producer', source: a1.ref }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.message).toMatch(/no producer no-such-producer in room "cascade-room" on A-edge-1/);
    // The pipe opened for it is gone again on both sides.
    await until('the failed pipe closed', () => a1.service.pipes().length === 0);
    expect(a2.pipes.pipes()).toEqual([]);

    const otherRoom = await a2.room('nobody-on-a1');
    const noRoom = await codeOf(a2.pipes.acquire({ room: otherRoom, producerId, source: a1.ref }));
    expect(noRoom.code).toBe(status.NOT_FOUND);
    expect(noRoom.message).toMatch(/no room "nobody-on-a1" on A-edge-1/);
    otherRoom.close();

    const client = new CascadeClient({ node: 'B-edge-2', tokens: b2.tokens, peer: a1.ref });
    try {
      const endpoint = { ip: '127.0.0.1', port: 9, srtp: undefined };
      const bad = [
        {
          room: '',
          pipeId: 'x',
          callerNode: 'B-edge-2',
          callerRegion: 'B',
          callerEndpoint: endpoint,
          enableSrtp: true,
        },
        {
          room: ROOM,
          pipeId: 'x',
          callerNode: 'B-edge-2',
          callerRegion: 'B',
          callerEndpoint: { ...endpoint, port: 0 },
          enableSrtp: false,
        },
        // Across regions without SRTP.
        {
          room: ROOM,
          pipeId: 'x',
          callerNode: 'B-edge-2',
          callerRegion: 'B',
          callerEndpoint: endpoint,
          enableSrtp: false,
        },
        // A caller_node that is not the token's subject.
        {
          room: ROOM,
          pipeId: 'x',
          callerNode: 'A-edge-2',
          callerRegion: 'A',
          callerEndpoint: endpoint,
          enableSrtp: false,
        },
      ];
      for (const req of bad) expect((await codeOf(client.openPipe(req))).code).toBe(status.INVALID_ARGUMENT);
      const noPipe = await codeOf(
        client.pipeProducer({ pipeId: 'never-opened', producerId, origin: undefined }),
      );
      expect(noPipe.code).toBe(status.NOT_FOUND);
      expect(noPipe.message).toMatch(/no pipe never-opened of B-edge-2/);
    } finally {
      client.close();
    }
  });

  it('closes the pipes of a caller whose Watch stream is gone, after the linger time', async () => {
    const client = new CascadeClient({ node: 'A-edge-2', tokens: a2.tokens, peer: a1.ref });
    const closed = new Promise((r) => a1.service.once('pipeclose', r));
    await client.watch();
    await client.openPipe({
      room: ROOM,
      pipeId: 'orphan',
      callerNode: 'A-edge-2',
      callerRegion: 'A',
      callerEndpoint: { ip: '127.0.0.1', port: 9, srtp: undefined },
      enableSrtp: false,
    });
    expect(a1.service.pipes()).toHaveLength(1);
    const t0 = Date.now();
    client.close(); // the caller vanishes without ClosePipe
    expect(await within(closed, 3000, 'pipeclose')).toMatchObject({
      callerNode: 'A-edge-2',
      pipeId: 'orphan',
      reason: 'callerlost',
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(await a1.pipeTransportIds(ROOM)).toEqual([]);
  });

  it('withdraws the producers of a peer edge that shuts down', async () => {
    const gone = await CascadeEdge.start({
      node: 'A-edge-3',
      region: 'A',
      rtcPort: 16450,
      portRange: { min: 20250, max: 20299 },
    });
    let closedGone = false;
    try {
      const goneRoom = await gone.room(ROOM);
      const ingress = await PlainRtpEndpoint.create(goneRoom, { peerId: 'carol', comedia: true });
      const carol = await ingress.produce('video', vp8RtpParameters({ ssrc: 7300 }));
      const room = await a2.room(ROOM);
      const lease = await hold(a2, { room, producerId: carol.id, source: gone.ref });
      const why = new Promise((r) => lease.once('close', r));
      const t0 = Date.now();
      await gone.close();
      closedGone = true;
      // An orderly shutdown tells its callers (PipeClosed) before the stream ends.
      expect(await within(why, 3000, 'the lease to close')).toBe('pipeclosed');
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(room.getProducer(carol.id)).toBeUndefined();
      expect(a2.pipes.pipes()).toEqual([]);
      expect(await a2.pipeTransportIds(ROOM)).toEqual([]);
    } finally {
      if (!closedGone) await gone.close();
    }
  });
});
