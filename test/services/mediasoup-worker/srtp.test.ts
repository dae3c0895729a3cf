// SRTP of the offline-built worker (mediasoup's libsrtp 3.0 calls run through our compatibility
// header over Debian's libsrtp2) against independent implementations: GStreamer's srtpenc/srtpdec
// in both directions for every crypto suite mediasoup offers, ffmpeg's own SRTP code (not libsrtp)
// into the worker, and wrong keys rejected in both directions.
import type { types } from 'mediasoup';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup } from './Cleanup';
import { FfmpegSrtpSender } from './FfmpegSrtpSender';
import { GstLaunch } from './GstLaunch';
import {
  base64ToHex,
  createTestWorker,
  freeUdpPort,
  randomKeyBase64,
  requireCommand,
  requireGstElements,
  requireWorkerBin,
  sleep,
  sumStat,
  waitFor,
} from './support';
import { UdpRtpSink } from './UdpRtpSink';

const OPUS_PT = 100;
const OPUS_SSRC = 33_333_333;
const listenInfo: types.TransportListenInfo = { protocol: 'udp', ip: '127.0.0.1' };
const mediaCodecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
];
const opusRtpParameters: types.RtpParameters = {
  codecs: [{ mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc: OPUS_SSRC }],
};

/** mediasoup's suite → GStreamer's names and the master key + salt length (RFC 3711, RFC 7714). */
const suites: Array<{
  suite: types.SrtpCryptoSuite;
  cipher: string;
  auth: string;
  keyBytes: number;
}> = [
  { suite: 'AES_CM_128_HMAC_SHA1_80', cipher: 'aes-128-icm', auth: 'hmac-sha1-80', keyBytes: 30 },
  { suite: 'AES_CM_128_HMAC_SHA1_32', cipher: 'aes-128-icm', auth: 'hmac-sha1-32', keyBytes: 30 },
  { suite: 'AEAD_AES_128_GCM', cipher: 'aes-128-gcm', auth: 'null', keyBytes: 28 },
  { suite: 'AEAD_AES_256_GCM', cipher: 'aes-256-gcm', auth: 'null', keyBytes: 44 },
];
type Suite = (typeof suites)[number];

/** GStreamer: a live Opus stream, SRTP-protected with `keyBase64` (or plain RTP if no suite). */
function opusSender(port: number, srtp?: { suite: Suite; keyBase64: string }): GstLaunch {
  const protect = srtp
    ? [
        'srtpenc',
        `key=${base64ToHex(srtp.keyBase64)}`,
        `rtp-cipher=${srtp.suite.cipher}`,
        `rtp-auth=${srtp.suite.auth}`,
        `rtcp-cipher=${srtp.suite.cipher}`,
        `rtcp-auth=${srtp.suite.auth}`,
        '!',
      ]
    : [];
  return new GstLaunch(srtp ? `srtpenc ${srtp.suite.suite}` : 'opus sender', [
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
    ...protect,
    'udpsink',
    'host=127.0.0.1',
    `port=${port}`,
  ]);
}

/** GStreamer: receives SRTP on `listenPort`, decrypts it with `keyBase64`, forwards plain RTP. */
function srtpReceiver(
  listenPort: number,
  forwardPort: number,
  suite: Suite,
  keyBase64: string,
  ssrc: number,
  payloadType: number,
): GstLaunch {
  const caps =
    `application/x-srtp,payload=(int)${payloadType},ssrc=(uint)${ssrc},` +
    `srtp-key=(buffer)${base64ToHex(keyBase64)},` +
    `srtp-cipher=(string)${suite.cipher},srtp-auth=(string)${suite.auth},` +
    `srtcp-cipher=(string)${suite.cipher},srtcp-auth=(string)${suite.auth},roc=(uint)0`;
  return new GstLaunch(`srtpdec ${suite.suite}`, [
    'udpsrc',
    'address=127.0.0.1',
    `port=${listenPort}`,
    `caps=${caps}`,
    '!',
    'srtpdec',
    'name=dec',
    '!',
    'udpsink',
    'host=127.0.0.1',
    `port=${forwardPort}`,
    // The worker multiplexes SRTCP on the same port; srtpdec sends it to rtcp_src, which must be
    // linked or the pipeline stops with not-linked.
    'dec.rtcp_src',
    '!',
    'fakesink',
    'async=false',
  ]);
}

describe('mediasoup-worker SRTP against independent implementations', () => {
  let worker: types.Worker;
  const cleanup = new Cleanup();

  beforeAll(async () => {
    requireWorkerBin();
    requireGstElements(['audiotestsrc', 'opusenc', 'rtpopuspay', 'srtpenc', 'srtpdec', 'udpsrc']);
    worker = await createTestWorker();
  });

  afterEach(() => cleanup.run());

  afterAll(async () => {
    if (!worker) return;
    const died = worker.died;
    worker.close();
    expect(died, 'the worker died during the tests').toBe(false);
  });

  /**
   * Router + an SRTP PlainTransport that GStreamer (or ffmpeg) sends into, protected with
   * `remoteKey`. Without `remotePort` the worker learns the sender's address (comedia).
   */
  async function srtpIngress(suite: Suite, remoteKey: string, remotePort?: number) {
    const router = cleanup.add(await worker.createRouter({ mediaCodecs }), (r) => r.close());
    const ingress = await router.createPlainTransport({
      listenInfo,
      rtcpMux: true,
      comedia: remotePort === undefined,
      enableSrtp: true,
      srtpCryptoSuite: suite.suite,
    });
    const srtpParameters = { cryptoSuite: suite.suite, keyBase64: remoteKey };
    await ingress.connect(
      remotePort === undefined ? { srtpParameters } : { ip: '127.0.0.1', port: remotePort, srtpParameters },
    );
    const producer = await ingress.produce({ kind: 'audio', rtpParameters: opusRtpParameters });
    return { router, ingress, producer };
  }

  /** A plain-RTP producer fed by GStreamer, and an SRTP egress transport consuming it. */
  async function srtpEgress(suite: Suite) {
    const router = cleanup.add(await worker.createRouter({ mediaCodecs }), (r) => r.close());
    const plainIn = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });
    const producer = await plainIn.produce({ kind: 'audio', rtpParameters: opusRtpParameters });
    cleanup.add(opusSender(plainIn.tuple.localPort), (g) => g.close());

    const receiverPort = await freeUdpPort();
    const egress = await router.createPlainTransport({
      listenInfo,
      rtcpMux: true,
      comedia: false,
      enableSrtp: true,
      srtpCryptoSuite: suite.suite,
    });
    // The remote key would decrypt what the receiver sends back; it sends nothing.
    await egress.connect({
      ip: '127.0.0.1',
      port: receiverPort,
      srtpParameters: { cryptoSuite: suite.suite, keyBase64: randomKeyBase64(suite.keyBytes) },
    });
    const consumer = await egress.consume({
      producerId: producer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    const localKey = egress.srtpParameters?.keyBase64;
    expect(egress.srtpParameters?.cryptoSuite).toBe(suite.suite);
    expect(Buffer.from(localKey ?? '', 'base64').length).toBe(suite.keyBytes);
    return {
      egress,
      consumer,
      receiverPort,
      localKey: localKey!,
      ssrc: consumer.rtpParameters.encodings![0]!.ssrc!,
      payloadType: consumer.rtpParameters.codecs[0]!.payloadType,
    };
  }

  describe.each(suites)('$suite', (suite) => {
    it('GStreamer srtpenc → worker: packets decrypted and accepted by the producer', async () => {
      const key = randomKeyBase64(suite.keyBytes);
      const { ingress, producer } = await srtpIngress(suite, key);
      const sender = cleanup.add(opusSender(ingress.tuple.localPort, { suite, keyBase64: key }), (g) =>
        g.close(),
      );
      const packets = await waitFor(
        `the producer to accept ≥ 50 SRTP (${suite.suite}) packets from GStreamer`,
        async () => {
          sender.assertRunning();
          const count = sumStat(await producer.getStats(), 'packetCount');
          return count >= 50 ? count : false;
        },
      );
      expect(packets).toBeGreaterThanOrEqual(50);
    });

    it('worker → GStreamer srtpdec: packets authenticated and decrypted by GStreamer', async () => {
      const sink = cleanup.add(await UdpRtpSink.open(), (s) => s.close());
      const { receiverPort, localKey, ssrc, payloadType, consumer } = await srtpEgress(suite);
      const receiver = cleanup.add(
        srtpReceiver(receiverPort, sink.port, suite, localKey, ssrc, payloadType),
        (g) => g.close(),
      );
      await waitFor(`≥ 50 RTP packets decrypted by GStreamer srtpdec (${suite.suite})`, () => {
        receiver.assertRunning();
        return sink.packetsWith({ ssrc, payloadType }).length >= 50;
      });
      // What GStreamer decrypted is the Opus stream: same SSRC/PT, non-empty payloads.
      const received = sink.packetsWith({ ssrc, payloadType });
      expect(received.every((p) => p.packet.length > p.header.payloadOffset)).toBe(true);
      const sent = (await consumer.getStats()).filter((s) => s.type === 'outbound-rtp');
      expect(sumStat(sent, 'packetCount')).toBeGreaterThanOrEqual(received.length);
    });

    it('a wrong key is rejected in both directions', async () => {
      // Into the worker: the packets arrive (the transport counts their bytes) but none passes.
      const rightKey = randomKeyBase64(suite.keyBytes);
      const wrongKey = randomKeyBase64(suite.keyBytes);
      const { ingress, producer } = await srtpIngress(suite, rightKey);
      const sender = cleanup.add(opusSender(ingress.tuple.localPort, { suite, keyBase64: wrongKey }), (g) =>
        g.close(),
      );
      await waitFor('SRTP packets with the wrong key to reach the worker', async () => {
        sender.assertRunning();
        const [stats] = await ingress.getStats();
        return (stats?.bytesReceived ?? 0) > 5000;
      });

      // Out of the worker: GStreamer holds the wrong key and must decrypt nothing.
      const sink = cleanup.add(await UdpRtpSink.open(), (s) => s.close());
      const egress = await srtpEgress(suite);
      const receiver = cleanup.add(
        srtpReceiver(egress.receiverPort, sink.port, suite, wrongKey, egress.ssrc, egress.payloadType),
        (g) => g.close(),
      );
      await waitFor('the worker to send ≥ 50 SRTP packets to GStreamer', async () => {
        const sent = (await egress.consumer.getStats()).filter((s) => s.type === 'outbound-rtp');
        return sumStat(sent, 'packetCount') >= 50;
      });
      await sleep(500);
      receiver.assertRunning();

      expect(sumStat(await producer.getStats(), 'packetCount')).toBe(0);
      expect(sink.packets.length).toBe(0);
    });
  });

  it('ffmpeg (its own SRTP code, not libsrtp) → worker, AES_CM_128_HMAC_SHA1_80', async () => {
    requireCommand('ffmpeg', 'ffmpeg');
    const suite = suites[0]!;
    const key = randomKeyBase64(suite.keyBytes);
    // ffmpeg sends from separate RTP and RTCP sockets and punches both at start, so comedia could
    // latch onto the RTCP one: tell the worker ffmpeg's RTP port instead.
    const localRtpPort = await freeUdpPort();
    const localRtcpPort = await freeUdpPort();
    const { ingress, producer } = await srtpIngress(suite, key, localRtpPort);
    const ffmpeg = cleanup.add(
      new FfmpegSrtpSender(ingress.tuple.localPort, suite.suite, key, {
        payloadType: OPUS_PT,
        ssrc: OPUS_SSRC,
        localRtpPort,
        localRtcpPort,
      }),
      (f) => f.close(),
    );
    const packets = await waitFor('the producer to accept ≥ 50 SRTP packets from ffmpeg', async () => {
      ffmpeg.assertRunning();
      const count = sumStat(await producer.getStats(), 'packetCount');
      return count >= 50 ? count : false;
    });
    expect(packets).toBeGreaterThanOrEqual(50);
  });
});
