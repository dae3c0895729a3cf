// A real VP8 + Opus stream (GStreamer encoders) into PlainTransport producers of the offline-built
// worker, out through consumers: the RTP that arrives must carry the consumers' SSRCs and payload
// types, VP8 key frames must survive forwarding intact, and the forwarded VP8 must decode.
import type { types } from 'mediasoup';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup } from './Cleanup';
import { GstLaunch } from './GstLaunch';
import { isVp8KeyFrameStart } from './RtpHeader';
import {
  createTestWorker,
  freeUdpPort,
  requireGstElements,
  requireWorkerBin,
  sumStat,
  waitFor,
} from './support';
import { UdpRtpSink } from './UdpRtpSink';

const OPUS_PT = 100;
const VP8_PT = 101;
const OPUS_SSRC = 11_111_111;
const VP8_SSRC = 22_222_222;

const mediaCodecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

describe('mediasoup-worker forwards a real VP8 + Opus stream', () => {
  let worker: types.Worker;
  const cleanup = new Cleanup();

  beforeAll(async () => {
    requireWorkerBin();
    requireGstElements([
      'videotestsrc',
      'audiotestsrc',
      'vp8enc',
      'vp8dec',
      'opusenc',
      'rtpvp8pay',
      'rtpvp8depay',
      'rtpopuspay',
      'udpsink',
      'udpsrc',
      'fpsdisplaysink',
    ]);
    worker = await createTestWorker();
  });

  afterEach(() => cleanup.run());

  afterAll(async () => {
    if (!worker) return;
    const died = worker.died;
    worker.close();
    expect(died, 'the worker died during the tests').toBe(false);
  });

  it('delivers packets with the consumer SSRC and payload type, key frames intact and decodable', async () => {
    const router = cleanup.add(await worker.createRouter({ mediaCodecs }), (r) => r.close());
    const listenInfo: types.TransportListenInfo = { protocol: 'udp', ip: '127.0.0.1' };

    // comedia: the worker learns each GStreamer sender's address from its first packet.
    const audioIn = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });
    const videoIn = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });

    const audioProducer = await audioIn.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [
          {
            mimeType: 'audio/opus',
            payloadType: OPUS_PT,
            clockRate: 48000,
            channels: 2,
            parameters: { 'sprop-stereo': 1 },
          },
        ],
        encodings: [{ ssrc: OPUS_SSRC }],
      },
    });
    const videoProducer = await videoIn.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: VP8_PT, clockRate: 90000 }],
        encodings: [{ ssrc: VP8_SSRC }],
      },
    });

    // Out: both consumers to one node UDP socket; the video also to a GStreamer decoder.
    const sink = cleanup.add(await UdpRtpSink.open(), (s) => s.close());
    const out = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: false });
    await out.connect({ ip: '127.0.0.1', port: sink.port });
    const audioConsumer = await out.consume({
      producerId: audioProducer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    const videoConsumer = await out.consume({
      producerId: videoProducer.id,
      rtpCapabilities: router.rtpCapabilities,
    });

    const decoderPort = await freeUdpPort();
    const decodeOut = await router.createPlainTransport({
      listenInfo,
      rtcpMux: true,
      comedia: false,
    });
    await decodeOut.connect({ ip: '127.0.0.1', port: decoderPort });
    const decodedConsumer = await decodeOut.consume({
      producerId: videoProducer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    const decodedPt = decodedConsumer.rtpParameters.codecs[0]!.payloadType;
    const decoder = cleanup.add(
      new GstLaunch(
        'vp8 decoder',
        [
          'udpsrc',
          'address=127.0.0.1',
          `port=${decoderPort}`,
          `caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=${decodedPt}`,
          '!',
          'rtpvp8depay',
          '!',
          'vp8dec',
          '!',
          'fpsdisplaysink',
          'video-sink=fakesink',
          'text-overlay=false',
          'signal-fps-measurements=true',
          'fps-update-interval=500',
        ],
        { verbose: true },
      ),
      (g) => g.close(),
    );

    const audioSender = cleanup.add(
      new GstLaunch('opus sender', [
        'audiotestsrc',
        'is-live=true',
        'wave=sine',
        '!',
        'audio/x-raw,rate=48000,channels=2',
        '!',
        'opusenc',
        'bitrate=32000',
        '!',
        'rtpopuspay',
        `pt=${OPUS_PT}`,
        `ssrc=${OPUS_SSRC}`,
        '!',
        'udpsink',
        'host=127.0.0.1',
        `port=${audioIn.tuple.localPort}`,
      ]),
      (g) => g.close(),
    );
    const videoSender = cleanup.add(
      new GstLaunch('vp8 sender', [
        'videotestsrc',
        'is-live=true',
        'pattern=ball',
        '!',
        'video/x-raw,width=320,height=240,framerate=30/1',
        '!',
        'vp8enc',
        'deadline=1',
        'cpu-used=8',
        'keyframe-max-dist=30',
        'target-bitrate=300000',
        '!',
        'rtpvp8pay',
        `pt=${VP8_PT}`,
        `ssrc=${VP8_SSRC}`,
        'picture-id-mode=15-bit',
        'mtu=1200',
        '!',
        'udpsink',
        'host=127.0.0.1',
        `port=${videoIn.tuple.localPort}`,
      ]),
      (g) => g.close(),
    );

    const audioSsrc = audioConsumer.rtpParameters.encodings![0]!.ssrc!;
    const audioPt = audioConsumer.rtpParameters.codecs[0]!.payloadType;
    const videoSsrc = videoConsumer.rtpParameters.encodings![0]!.ssrc!;
    const videoPt = videoConsumer.rtpParameters.codecs[0]!.payloadType;
    // The worker rewrites SSRCs: seeing the producer's would mean it did not.
    expect(audioSsrc).not.toBe(OPUS_SSRC);
    expect(videoSsrc).not.toBe(VP8_SSRC);

    await waitFor(
      'forwarded Opus and VP8 at the UDP sink (≥ 50 audio packets, ≥ 2 VP8 key frames, > 20 frames)',
      () => {
        audioSender.assertRunning();
        videoSender.assertRunning();
        const audio = sink.packetsWith({ ssrc: audioSsrc });
        const video = sink.packetsWith({ ssrc: videoSsrc });
        const keyFrames = video.filter(({ header, packet }) =>
          isVp8KeyFrameStart(packet.subarray(header.payloadOffset)),
        );
        const frames = new Set(video.map((p) => p.header.timestamp)).size;
        return audio.length >= 50 && keyFrames.length >= 2 && frames > 20;
      },
      20_000,
    );

    const audio = sink.packetsWith({ ssrc: audioSsrc });
    const video = sink.packetsWith({ ssrc: videoSsrc });
    expect(new Set(audio.map((p) => p.header.payloadType))).toEqual(new Set([audioPt]));
    expect(new Set(video.map((p) => p.header.payloadType))).toEqual(new Set([videoPt]));
    // Nothing else came out but mediasoup's bandwidth probation packets (SSRC 1234, PT 127).
    const others = sink.packets
      .filter((p) => p.header.ssrc !== audioSsrc && p.header.ssrc !== videoSsrc)
      .filter((p) => !(p.header.ssrc === 1234 && p.header.payloadType === 127))
      .map((p) => `ssrc ${p.header.ssrc} pt ${p.header.payloadType}`);
    expect([...new Set(others)]).toEqual([]);
    // Opus at 20 ms: timestamps advance by 960 at 48 kHz.
    const audioSteps = audio
      .slice(1, 40)
      .map((p, i) => (p.header.timestamp - audio[i]!.header.timestamp) >>> 0);
    expect(audioSteps.filter((step) => step === 960).length).toBeGreaterThan(30);
    // VP8: many frames (distinct timestamps), each ended by a marker bit.
    expect(new Set(video.map((p) => p.header.timestamp)).size).toBeGreaterThan(20);
    expect(video.filter((p) => p.header.marker).length).toBeGreaterThan(20);

    // Server-side view agrees: each producer received at least what came out of its consumer.
    expect(sumStat(await audioProducer.getStats(), 'packetCount')).toBeGreaterThanOrEqual(audio.length);
    expect(sumStat(await videoProducer.getStats(), 'packetCount')).toBeGreaterThanOrEqual(video.length);
    const videoOut = (await videoConsumer.getStats()).filter((s) => s.type === 'outbound-rtp');
    expect(sumStat(videoOut, 'packetCount')).toBeGreaterThanOrEqual(video.length);

    // The forwarded VP8 decodes: fpsdisplaysink reports rendered frames.
    const rendered = await waitFor(
      'the GStreamer VP8 decoder to render ≥ 30 forwarded frames',
      () => {
        decoder.assertRunning();
        const counts = [...decoder.output.matchAll(/rendered: (\d+)/g)].map((m) => Number(m[1]));
        const latest = counts.at(-1) ?? 0;
        return latest >= 30 ? latest : false;
      },
      20_000,
    );
    expect(rendered).toBeGreaterThanOrEqual(30);
  });
});
