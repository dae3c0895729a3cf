import { createSocket, type Socket } from 'node:dgram';

/** Bytes at the end of every payload: a uint32 packet counter and the send time (float64, ms). */
export const TRAILER_BYTES = 12;

/** process.hrtime in ms: one monotonic clock for every thread of the process (sender and sink). */
export function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * A synthetic VP8 RTP stream like bench/media/SyntheticVp8Sender (30 frames/s, rate/30 packets per
 * frame, a key frame every `keyFrameEvery` frames, real payload descriptor and key-frame header), whose
 * packets carry their own number and send time in the last bytes of the payload. mediasoup rewrites
 * the SSRC, sequence numbers and timestamps per consumer but forwards the payload as it is (SRTP on a
 * pipe is undone at the far end), so a sink can match one packet across viewers.
 */
export class CountingVp8Sender {
  readonly #socket: Socket = createSocket('udp4');
  readonly #target: { ip: string; port: number };
  readonly #pps: number;
  readonly #ssrc: number;
  readonly #payloadBytes: number;
  readonly #packetsPerFrame: number;
  readonly #keyFrameEvery: number;
  #timer: NodeJS.Timeout | undefined;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff);
  #frame = 0;
  #packetInFrame = 0;
  #sent = 0;

  constructor(options: {
    target: { ip: string; port: number };
    pps: number;
    ssrc: number;
    payloadBytes?: number;
    keyFrameEvery?: number;
  }) {
    this.#target = options.target;
    this.#pps = options.pps;
    this.#ssrc = options.ssrc;
    this.#payloadBytes = Math.max(64, options.payloadBytes ?? 1000);
    this.#packetsPerFrame = Math.max(1, Math.round(options.pps / 30));
    this.#keyFrameEvery = options.keyFrameEvery ?? 15;
  }

  get sent(): number {
    return this.#sent;
  }

  start(): void {
    const t0 = performance.now();
    const base = this.#sent;
    // Ticks every 5 ms; each sends what is due since the start, so timer jitter does not change the rate.
    this.#timer = setInterval(() => {
      const due = base + Math.floor(((performance.now() - t0) / 1000) * this.#pps);
      while (this.#sent < due) this.#sendOne();
    }, 5);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    this.#socket.close();
  }

  #sendOne(): void {
    const first = this.#packetInFrame === 0;
    const last = this.#packetInFrame === this.#packetsPerFrame - 1;
    const key = this.#frame % this.#keyFrameEvery === 0;
    const packet = Buffer.alloc(12 + this.#payloadBytes);
    packet[0] = 0x80;
    packet[1] = (last ? 0x80 : 0) | 96;
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE(this.#timestamp >>> 0, 4);
    packet.writeUInt32BE(this.#ssrc, 8);
    // VP8 payload descriptor (RFC 7741): S bit on the first packet of the frame, partition 0.
    packet[12] = first ? 0x10 : 0x00;
    if (first) {
      // VP8 frame tag: bit 0 = 0 for a key frame; show_frame set. Key frames carry the start code and size.
      packet[13] = key ? 0x10 : 0x11;
      packet[14] = 0x02;
      packet[15] = 0x00;
      if (key) {
        packet.set([0x9d, 0x01, 0x2a], 16);
        packet.writeUInt16LE(640, 19);
        packet.writeUInt16LE(480, 21);
      }
    }
    packet.writeUInt32BE(this.#sent >>> 0, packet.length - TRAILER_BYTES);
    packet.writeDoubleBE(hrMs(), packet.length - 8);
    this.#socket.send(packet, this.#target.port, this.#target.ip);
    this.#sent++;
    this.#seq = (this.#seq + 1) & 0xffff;
    if (last) {
      this.#packetInFrame = 0;
      this.#frame++;
      this.#timestamp = (this.#timestamp + 3000) >>> 0;
    } else this.#packetInFrame++;
  }
}
