import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlainRtpEndpoint } from './PlainRtpEndpoint';
import type { AudioLevel } from './Room';
import { RtpRecorder } from './RtpRecorder';
import { RtpReplayer } from './RtpReplayer';
import { RtpSourceProcess } from './RtpSourceProcess';
import { opusRtpParameters, vp8RtpParameters } from './rtpParameters';
import { UdpSink } from './UdpSink';
import { WorkerPool } from './WorkerPool';

/** mediasoup sends bandwidth-probation padding on this SSRC (RTC::RtpProbationSsrc). */
const MEDIASOUP_PROBATION_SSRC = 1234;

// Real mediasoup worker (resolveWorkerBin(): `npm run setup` builds it) and real GStreamer senders.
describe('media forwarding through a room', () => {
  let pool: WorkerPool;
  let dir: string;
  const owned: { close(): void }[] = [];
  const processes: RtpSourceProcess[] = [];

  beforeAll(async () => {
    pool = await WorkerPool.create({
      numWorkers: 1,
      basePort: 32110,
      rtcPortRange: { min: 43200, max: 43399 },
      loadSampleIntervalMs: 0,
    });
    dir = await mkdtemp(join(tmpdir(), 'meetview-media-'));
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const o of owned) o.close();
    pool?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function sinksFor(
    room: Parameters<typeof PlainRtpEndpoint.create>[0],
    producerId: string,
    n: number,
  ) {
    const result: { sink: UdpSink; ssrc: number }[] = [];
    for (let i = 0; i < n; i++) {
      const sink = await UdpSink.bind();
      owned.push(sink);
      const endpoint = await PlainRtpEndpoint.create(room, { peerId: `viewer-${i}`, remote: sink.address });
      const consumer = await endpoint.consume(producerId);
      result.push({ sink, ssrc: consumer.rtpParameters.encodings![0]!.ssrc! });
    }
    return result;
  }

  it('forwards a GStreamer VP8 stream to N consumers, each on its own SSRC', async () => {
    const room = await pool.createRoom({ roomId: 'vp8-fanout' });
    owned.push(room);
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'gst', comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 1111 }));
    const keyframed = new Set<string>();
    room.on('consumerkeyframe', ({ consumerId }) => keyframed.add(consumerId));
    const viewers = await sinksFor(room, producer.id, 6);
    await pool.sampleLoad();
    const gst = RtpSourceProcess.gstreamerVp8({ ...ingress.local, ssrc: 1111 });
    processes.push(gst);

    // 30 fps at 320x240 is ~30–60 packets/s; 100 packets each means a few seconds of real flow.
    for (const { sink, ssrc } of viewers) await sink.waitForPackets(100, 20_000, ssrc);
    // Every consumer reports the key frame it was sent (the conference stops its key frame retries on it).
    expect(keyframed.size).toBe(6);
    // The load placement uses: 1 in × 6 out streams, and the worker's CPU over the forwarding.
    await pool.sampleLoad();
    const [load] = pool.workers();
    expect(load).toMatchObject({ rooms: 1, streams: 7 });
    expect(load!.cpuPercent).toBeGreaterThan(0);
    expect(load!.cpuPercent).toBeLessThan(100);
    await gst.stop();
    expect(gst.stderr).not.toMatch(/ERROR/);

    const counts = viewers.map(({ sink, ssrc }) => sink.packetsBySsrc().get(ssrc) ?? 0);
    // Each sink gets its consumer's SSRC, plus mediasoup's bandwidth probation padding (SSRC 1234).
    for (const { sink, ssrc } of viewers)
      for (const seen of sink.packetsBySsrc().keys())
        expect([ssrc, MEDIASOUP_PROBATION_SSRC]).toContain(seen);
    expect(new Set(viewers.map((v) => v.ssrc)).size).toBe(viewers.length);
    // Everybody was resumed before the first packet, so all receive the same stream (give or take in-flight).
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThan(Math.max(...counts) * 0.1);
    const [stat] = await room.getProducerStats(producer.id);
    expect(stat?.packetCount).toBeGreaterThanOrEqual(Math.min(...counts));
    room.close();
  });

  it('takes VP8 from ffmpeg as well', async () => {
    const room = await pool.createRoom({ roomId: 'ffmpeg' });
    owned.push(room);
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'ffmpeg', comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 4444 }));
    const viewers = await sinksFor(room, producer.id, 2);
    const ffmpeg = RtpSourceProcess.ffmpegVp8({ ...ingress.local, ssrc: 4444 });
    processes.push(ffmpeg);
    for (const { sink, ssrc } of viewers) await sink.waitForPackets(50, 20_000, ssrc);
    await ffmpeg.stop();
    room.close();
  });

  it('replays a recorded rtpdump file into a room at its pace', async () => {
    // Record 3 s of GStreamer VP8 (the recorder is listening before the first, key, frame).
    const recorder = await RtpRecorder.bind();
    owned.push(recorder);
    const gst = RtpSourceProcess.gstreamerVp8({ ...recorder.address, ssrc: 2222 });
    processes.push(gst);
    await new Promise((r) => setTimeout(r, 3000));
    await gst.stop();
    const file = join(dir, 'vp8.rtpdump');
    const recorded = await recorder.stop(file);
    expect(recorded).toBeGreaterThan(60);

    const room = await pool.createRoom({ roomId: 'vp8-replay' });
    owned.push(room);
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'replayer', comedia: true });
    const replayer = await RtpReplayer.fromFile(file, ingress.local, { loops: 2 });
    expect(replayer.streams()).toEqual([{ ssrc: 2222, payloadType: 96 }]);
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 2222 }));
    const viewers = await sinksFor(room, producer.id, 3);

    const t0 = performance.now();
    const { sent } = await replayer.start();
    const elapsed = performance.now() - t0;
    expect(sent).toBe(2 * recorded);
    // Paced, not blasted: two passes of a ~3 s recording take about 6 s.
    expect(elapsed).toBeGreaterThan(2 * replayer.durationMs - 200);
    for (const { sink, ssrc } of viewers) await sink.waitForPackets(Math.floor(sent * 0.95), 3000, ssrc);
    room.close();
  });

  it('reports audio levels and the active speaker of an Opus stream', async () => {
    const room = await pool.createRoom({ roomId: 'opus-levels' });
    owned.push(room);
    const levels: AudioLevel[][] = [];
    const speakers: string[] = [];
    room.on('audiolevels', (l) => levels.push(l));
    room.on('activespeaker', ({ producerId }) => speakers.push(producerId));
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'speaker', comedia: true });
    const producer = await ingress.produce('audio', opusRtpParameters({ ssrc: 3333 }));
    const gst = RtpSourceProcess.gstreamerOpus({ ...ingress.local, ssrc: 3333 });
    processes.push(gst);
    const deadline = Date.now() + 10_000;
    while ((levels.length === 0 || speakers.length === 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await gst.stop();
    expect(levels[0]?.[0]).toMatchObject({ producerId: producer.id, peerId: 'speaker' });
    expect(levels[0]![0]!.volume).toBeGreaterThan(-70);
    expect(speakers).toContain(producer.id);
    room.close();
  });
});
