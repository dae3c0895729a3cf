import type { types } from 'mediasoup';

/** RTP parameters of a single-stream VP8 sender such as `rtpvp8pay pt=96 ssrc=…` or RtpReplayer. */
export function vp8RtpParameters(options: {
  ssrc: number;
  payloadType?: number;
  cname?: string;
}): types.RtpParameters {
  return {
    codecs: [
      {
        mimeType: 'video/VP8',
        clockRate: 90000,
        payloadType: options.payloadType ?? 96,
        rtcpFeedback: [
          { type: 'nack' },
          { type: 'nack', parameter: 'pli' },
          { type: 'ccm', parameter: 'fir' },
        ],
      },
    ],
    encodings: [{ ssrc: options.ssrc }],
    rtcp: { cname: options.cname ?? 'plain-rtp', reducedSize: true },
  };
}

/**
 * RTP parameters of an Opus sender such as `rtpopuspay pt=111 ssrc=…`, with the RFC 6464 audio-level
 * header extension as `audioLevelExtensionId` (default 1; null for none), which the room's audio-level
 * and active-speaker observers read.
 */
export function opusRtpParameters(options: {
  ssrc: number;
  payloadType?: number;
  cname?: string;
  audioLevelExtensionId?: number | null;
}): types.RtpParameters {
  const extId = options.audioLevelExtensionId === undefined ? 1 : options.audioLevelExtensionId;
  return {
    codecs: [
      {
        mimeType: 'audio/opus',
        clockRate: 48000,
        channels: 2,
        payloadType: options.payloadType ?? 111,
        parameters: { useinbandfec: 1 },
      },
    ],
    headerExtensions:
      extId === null ? [] : [{ uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: extId }],
    encodings: [{ ssrc: options.ssrc }],
    rtcp: { cname: options.cname ?? 'plain-rtp', reducedSize: true },
  };
}
