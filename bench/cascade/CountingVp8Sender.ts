import { SyntheticVp8Sender } from '../media/SyntheticVp8Sender';

/** Bytes at the end of every payload: a uint32 packet counter and the send time (float64, ms). */
export const TRAILER_BYTES = 12;

/** process.hrtime in ms: one monotonic clock for every thread of the process (sender and sink). */
export function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * bench/media/SyntheticVp8Sender's stream whose packets carry their own number and send time in the last
 * bytes of the payload. mediasoup rewrites the SSRC, sequence numbers and timestamps per consumer but
 * forwards the payload as it is (SRTP on a pipe is undone at the far end), so a sink can match one packet
 * across viewers.
 */
export class CountingVp8Sender extends SyntheticVp8Sender {
  constructor(options: {
    target: { ip: string; port: number };
    pps: number;
    ssrc: number;
    payloadBytes?: number;
    keyFrameEvery?: number;
  }) {
    super({
      ...options,
      // Room for the trailer after the VP8 headers.
      payloadBytes: Math.max(64, options.payloadBytes ?? 1000),
      stamp: (packet, index) => {
        packet.writeUInt32BE(index >>> 0, packet.length - TRAILER_BYTES);
        packet.writeDoubleBE(hrMs(), packet.length - 8);
      },
    });
  }
}
