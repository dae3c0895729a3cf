import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyntheticVp8Sender } from '../../bench/media/SyntheticVp8Sender';
import { MediaError, type MediaErrorCode } from './MediaError';
import { PlainRtpEndpoint } from './PlainRtpEndpoint';
import { KEY_FRAME_REQUEST_DELAY_MS, type Room } from './Room';
import { opusRtpParameters, vp8RtpParameters } from './rtpParameters';
import { WorkerPool } from './WorkerPool';

// Real mediasoup worker (resolveWorkerBin(): `npm run setup` builds one offline).
const BASE_PORT = 32130;

async function rejectsWith(promise: Promise<unknown>, code: MediaErrorCode): Promise<MediaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MediaError);
  expect((error as MediaError).code).toBe(code);
  return error as MediaError;
}

function throwsWith(fn: () => unknown, code: MediaErrorCode): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MediaError);
  expect((error as MediaError).code).toBe(code);
}

function udpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('Room', () => {
  let pool: WorkerPool;

  beforeAll(async () => {
    pool = await WorkerPool.create({
      numWorkers: 1,
      basePort: BASE_PORT,
      rtcPortRange: { min: 43600, max: 43799 },
      loadSampleIntervalMs: 0,
    });
  });

  afterAll(() => pool?.close());

  it('offers the browser codecs: Opus, VP8, VP9 profiles 0 and 2, H264 42e01f and 42001f', async () => {
    const room = await pool.createRoom({ roomId: 'codecs' });
    const codecs = room.rtpCapabilities.codecs!.filter((c) => !c.mimeType.endsWith('/rtx'));
    expect(codecs.map((c) => ({ mimeType: c.mimeType, parameters: c.parameters ?? {} }))).toEqual([
      { mimeType: 'audio/opus', parameters: { useinbandfec: 1, usedtx: 1 } },
      { mimeType: 'video/VP8', parameters: {} },
      { mimeType: 'video/VP9', parameters: { 'profile-id': 0 } },
      { mimeType: 'video/VP9', parameters: { 'profile-id': 2 } },
      {
        mimeType: 'video/H264',
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
      },
      {
        mimeType: 'video/H264',
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42001f', 'level-asymmetry-allowed': 1 },
      },
    ]);
    expect(codecs.find((c) => c.mimeType === 'audio/opus')).toMatchObject({ clockRate: 48000, channels: 2 });
    // Video codecs come with RTX.
    expect(room.rtpCapabilities.codecs!.filter((c) => c.mimeType === 'video/rtx')).toHaveLength(5);
    room.close();
  });

  it('accepts VP9 and H264 producers and simulcast, with paused-first consumers and layer control', async () => {
    const room = await pool.createRoom({ roomId: 'simulcast' });
    const ingress = await PlainRtpEndpoint.create(room, { comedia: true });
    const h264 = await ingress.produce('video', {
      codecs: [
        {
          mimeType: 'video/H264',
          clockRate: 90000,
          payloadType: 102,
          parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
        },
      ],
      encodings: [{ ssrc: 5001 }],
    });
    const vp9 = await ingress.produce('video', {
      codecs: [{ mimeType: 'video/VP9', clockRate: 90000, payloadType: 98, parameters: { 'profile-id': 2 } }],
      encodings: [{ ssrc: 5002 }],
    });
    expect([h264.type, vp9.type]).toEqual(['simple', 'simple']);

    const sim = await ingress.produce('video', {
      codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }],
      encodings: [{ ssrc: 6001, maxBitrate: 150_000 }, { ssrc: 6002, maxBitrate: 500_000 }, { ssrc: 6003 }],
    });
    expect(sim.type).toBe('simulcast');

    const out = await PlainRtpEndpoint.create(room, {
      peerId: 'viewer',
      remote: { ip: '127.0.0.1', port: 9 },
    });
    const consumer = await room.consume({
      transportId: out.transportId,
      producerId: sim.id,
      rtpCapabilities: room.rtpCapabilities,
    });
    expect(consumer).toMatchObject({
      type: 'simulcast',
      producerId: sim.id,
      peerId: 'viewer',
      kind: 'video',
    });
    const [stat] = (await room.getConsumerStats(consumer.id)) as { type: string }[];
    expect(stat?.type).toBe('outbound-rtp');
    const dumpBefore = await pool.worker(0)!.worker.dump();
    expect(dumpBefore.routerIds).toContain(room.routerId);
    await room.setPreferredLayers(consumer.id, { spatialLayer: 1, temporalLayer: 0 });
    await room.requestKeyFrame(consumer.id);
    await room.resumeConsumer(consumer.id);
    await room.pauseConsumer(consumer.id);
    await rejectsWith(room.setPreferredLayers(consumer.id, { spatialLayer: -1 }), 'BAD_PARAMETERS');

    // Producer pause/resume reaches the consumer's owner; closing the producer closes the consumer.
    const events: string[] = [];
    room.on('consumerproducerpause', ({ consumerId }) => events.push(`pause ${consumerId}`));
    room.on('consumerproducerresume', ({ consumerId }) => events.push(`resume ${consumerId}`));
    room.on('consumerclose', ({ consumerId, reason }) => events.push(`close ${consumerId} ${reason}`));
    await room.pauseProducer(sim.id);
    await room.resumeProducer(sim.id);
    room.closeProducer(sim.id);
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toEqual([
      `pause ${consumer.id}`,
      `resume ${consumer.id}`,
      `close ${consumer.id} producerclose`,
    ]);
    room.close();
  });

  it('spaces key frame requests to a video source: the first goes at once, one asked for within 400 ms waits for the rest', async () => {
    const room = await pool.createRoom({ roomId: 'keyframes' });
    const ingress = await PlainRtpEndpoint.create(room, { comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 7001 }));
    // Key frames only when asked (and the first frame), like a browser's camera between its periodic ones.
    const source = new SyntheticVp8Sender({ target: ingress.local, pps: 90, ssrc: 7001, keyFrameEvery: 0 });
    source.start();
    try {
      const viewers = await Promise.all(
        ['v1', 'v2'].map((peerId) =>
          PlainRtpEndpoint.create(room, { peerId, remote: { ip: '127.0.0.1', port: 9 } }),
        ),
      );
      // Past any request made when the stream appeared, and past its spacing.
      await new Promise((r) => setTimeout(r, 700));
      const before = source.keyFrameRequests.length;
      const t0 = performance.now();
      await viewers[0]!.consume(producer.id); // resumed: asks for a key frame
      await new Promise((r) => setTimeout(r, 100));
      await viewers[1]!.consume(producer.id); // 100 ms later: coalesced
      await new Promise((r) => setTimeout(r, 1000));
      const requests = source.keyFrameRequests.slice(before).map((t) => t - t0);
      // Without the spacing the second request would come at ~100 ms (and a browser that had just sent a
      // key frame would ignore it, leaving the viewer to mediasoup's retry 1 s later).
      expect(requests.length, `requests at ${requests.map(Math.round).join(', ')} ms`).toBe(2);
      expect(requests[0]!).toBeLessThan(250);
      expect(requests[1]! - requests[0]!).toBeGreaterThanOrEqual(KEY_FRAME_REQUEST_DELAY_MS - 50);
      expect(requests[1]! - requests[0]!).toBeLessThan(KEY_FRAME_REQUEST_DELAY_MS + 400);
    } finally {
      source.close();
      room.close();
    }
  });

  it('closing a room leaves no router, transport or port behind', async () => {
    const worker = pool.worker(0)!;
    const room = await pool.createRoom({ roomId: 'cleanup' });
    const webrtc = [
      await room.createWebRtcTransport({ peerId: 'alice' }),
      await room.createWebRtcTransport({ peerId: 'bob' }),
    ];
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'src', comedia: true });
    const video = await ingress.produce('video', vp8RtpParameters({ ssrc: 7001 }));
    await ingress.produce('audio', opusRtpParameters({ ssrc: 7002 }));
    const sinks = [
      await PlainRtpEndpoint.create(room, { peerId: 'alice', remote: { ip: '127.0.0.1', port: 9 } }),
      await PlainRtpEndpoint.create(room, { peerId: 'bob', remote: { ip: '127.0.0.1', port: 9 } }),
    ];
    for (const s of sinks) await s.consume(video.id);
    const plainPorts = [ingress.local.port, ...sinks.map((s) => s.local.port)];

    const routerDump = await room.dump();
    expect(routerDump.transportIds).toHaveLength(5);
    expect(routerDump.rtpObserverIds).toHaveLength(2);
    const serverBefore = await worker.webRtcServer.dump();
    expect(serverBefore.webRtcTransportIds.sort()).toEqual(webrtc.map((t) => t.id).sort());
    for (const port of plainPorts) expect(await udpPortIsFree(port)).toBe(false);
    expect(worker.streams).toBe(4);

    const reasons: string[] = [];
    room.on('close', (r) => reasons.push(r));
    room.close();
    expect(reasons).toEqual(['closed']);
    expect(room.closed).toBe(true);
    expect(pool.getRoom('cleanup')).toBeUndefined();

    const workerDump = await worker.worker.dump();
    expect(workerDump.routerIds).not.toContain(room.routerId);
    const serverAfter = await worker.webRtcServer.dump();
    expect(serverAfter.webRtcTransportIds).toEqual([]);
    expect(serverAfter.localIceUsernameFragments).toEqual([]);
    for (const port of plainPorts) expect(await udpPortIsFree(port)).toBe(true);
    expect(worker.streams).toBe(0);
    // The WebRtcServer itself stays for the next rooms.
    expect(serverAfter.udpSockets[0]?.port).toBe(BASE_PORT);

    await rejectsWith(room.createWebRtcTransport({ peerId: 'carol' }), 'ROOM_CLOSED');
    throwsWith(() => room.closeProducer(video.id), 'ROOM_CLOSED');
    room.close(); // idempotent
  });

  it('closePeer closes only that peer’s transports and what runs on them', async () => {
    const room = await pool.createRoom({ roomId: 'peers' });
    await room.createWebRtcTransport({ peerId: 'alice' });
    await room.createWebRtcTransport({ peerId: 'alice' });
    await room.createWebRtcTransport({ peerId: 'bob' });
    room.closePeer('alice');
    expect(room.transportCount).toBe(1);
    expect((await room.dump()).transportIds).toHaveLength(1);
    room.close();
  });

  describe('bad parameters give typed errors', () => {
    let room: Room;
    let ingress: PlainRtpEndpoint;

    beforeAll(async () => {
      room = await pool.createRoom({ roomId: 'errors' });
      ingress = await PlainRtpEndpoint.create(room, { comedia: true });
    });

    afterAll(() => room?.close());

    it('unknown codec → UNKNOWN_CODEC', async () => {
      const e = await rejectsWith(
        ingress.produce('video', {
          codecs: [{ mimeType: 'video/H265', clockRate: 90000, payloadType: 100 }],
          encodings: [{ ssrc: 8001 }],
        }),
        'UNKNOWN_CODEC',
      );
      expect(e.message).toMatch(/video\/H265.*not offered.*VP8/);
      await rejectsWith(
        ingress.produce('audio', {
          codecs: [{ mimeType: 'audio/opus', clockRate: 44100, payloadType: 111, channels: 2 }],
          encodings: [{ ssrc: 8002 }],
        }),
        'UNKNOWN_CODEC',
      );
    });

    it('wrong RTP parameters → BAD_RTP_PARAMETERS', async () => {
      // A video codec declared as audio.
      await rejectsWith(ingress.produce('audio', vp8RtpParameters({ ssrc: 8101 })), 'BAD_RTP_PARAMETERS');
      // No codecs.
      await rejectsWith(
        ingress.produce('video', { codecs: [], encodings: [{ ssrc: 8102 }] }),
        'BAD_RTP_PARAMETERS',
      );
      // mediasoup's own validation: a codec without payload type.
      const noPt = await rejectsWith(
        ingress.produce('video', {
          codecs: [{ mimeType: 'video/VP8', clockRate: 90000 } as never],
          encodings: [{ ssrc: 8103 }],
        }),
        'BAD_RTP_PARAMETERS',
      );
      expect(noPt.cause).toBeInstanceOf(TypeError);
      // The worker's refusal: a second producer with an SSRC already taken on this transport.
      await ingress.produce('video', vp8RtpParameters({ ssrc: 8104 }));
      const dup = await rejectsWith(
        ingress.produce('video', vp8RtpParameters({ ssrc: 8104 })),
        'BAD_RTP_PARAMETERS',
      );
      expect(dup.message).toMatch(/ssrc/i);
      await rejectsWith(
        room.produce({
          transportId: ingress.transportId,
          kind: 'data' as never,
          rtpParameters: vp8RtpParameters({ ssrc: 1 }),
        }),
        'BAD_PARAMETERS',
      );
    });

    it('consuming a closed producer → PRODUCER_NOT_FOUND; incompatible capabilities → CANNOT_CONSUME', async () => {
      const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 8201 }));
      const out = await PlainRtpEndpoint.create(room, {
        peerId: 'viewer',
        remote: { ip: '127.0.0.1', port: 9 },
      });
      const audioOnly = {
        codecs: room.rtpCapabilities.codecs!.filter((c) => c.kind === 'audio'),
        headerExtensions: [],
      };
      await rejectsWith(
        room.consume({ transportId: out.transportId, producerId: producer.id, rtpCapabilities: audioOnly }),
        'CANNOT_CONSUME',
      );
      await rejectsWith(
        room.consume({
          transportId: out.transportId,
          producerId: producer.id,
          rtpCapabilities: 'nope' as never,
        }),
        'BAD_RTP_CAPABILITIES',
      );
      room.closeProducer(producer.id);
      await rejectsWith(out.consume(producer.id), 'PRODUCER_NOT_FOUND');
      throwsWith(() => room.closeProducer(producer.id), 'PRODUCER_NOT_FOUND');
    });

    it('unknown ids → TRANSPORT_NOT_FOUND / CONSUMER_NOT_FOUND', async () => {
      await rejectsWith(
        room.produce({ transportId: 'nope', kind: 'video', rtpParameters: vp8RtpParameters({ ssrc: 1 }) }),
        'TRANSPORT_NOT_FOUND',
      );
      await rejectsWith(room.resumeConsumer('nope'), 'CONSUMER_NOT_FOUND');
      await rejectsWith(room.requestKeyFrame('nope'), 'CONSUMER_NOT_FOUND');
      await rejectsWith(
        room.connectPlainTransport('nope', { ip: '127.0.0.1', port: 1 }),
        'TRANSPORT_NOT_FOUND',
      );
      // A DTLS connect on a plain transport is a caller's mistake, not a crash.
      await rejectsWith(
        room.connectWebRtcTransport(ingress.transportId, { fingerprints: [] }),
        'BAD_PARAMETERS',
      );
    });
  });
});
