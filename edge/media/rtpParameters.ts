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

/** RTP parameters of an Opus sender such as `rtpopuspay pt=111 ssrc=…`. */
export function opusRtpParameters(options: {
  ssrc: number;
  payloadType?: number;
  cname?: string;
}): types.RtpParameters {
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
    encodings: [{ ssrc: options.ssrc }],
    rtcp: { cname: options.cname ?? 'plain-rtp', reducedSize: true },
  };
}
