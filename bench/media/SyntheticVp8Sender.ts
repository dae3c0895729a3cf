import { createSocket, type Socket } from 'node:dgram';

/**
 * Sends a synthetic VP8 RTP stream at a fixed packet rate: 30 frames/s, each frame split over
 * rate/30 packets of `payloadBytes`, a key frame every `keyFrameEvery` frames (mediasoup forwards to
 * a freshly resumed consumer only from a key frame on). The VP8 payload descriptor and key-frame
 * header are real, so mediasoup parses the stream as a browser's. Like a browser, it answers a key
 * frame request (RTCP PLI or FIR for its SSRC, sent back to its socket) with a key frame, and records
 * when each request came (`keyFrameRequests`).
 */
export class SyntheticVp8Sender {
  readonly #socket: Socket = createSocket('udp4');
  readonly #target: { ip: string; port: number };
  readonly #pps: number;
  readonly #ssrc: number;
  readonly #payloadBytes: number;
  readonly #packetsPerFrame: number;
  readonly #keyFrameEvery: number;
  readonly #stamp: ((packet: Buffer, index: number) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff);
  #frame = 0;
  #packetInFrame = 0;
  #sent = 0;
  #keyFrameRequested = false;
  /** performance.now() of every key frame request (PLI/FIR) received. */
  readonly keyFrameRequests: number[] = [];

  constructor(options: {
    target: { ip: string; port: number };
    pps: number;
    ssrc: number;
    payloadBytes?: number;
    keyFrameEvery?: number;
    /** Writes into each packet just before it leaves (e.g. a counter in the payload), given its number. */
    stamp?: (packet: Buffer, index: number) => void;
  }) {
    this.#target = options.target;
    this.#pps = options.pps;
    this.#ssrc = options.ssrc;
    this.#payloadBytes = options.payloadBytes ?? 1000;
    this.#packetsPerFrame = Math.max(1, Math.round(options.pps / 30));
    this.#keyFrameEvery = options.keyFrameEvery ?? 15;
    this.#stamp = options.stamp;
    this.#socket.on('message', (packet) => {
      if (isKeyFrameRequest(packet, this.#ssrc)) {
        this.keyFrameRequests.push(performance.now());
        this.#keyFrameRequested = true;
      }
    });
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
    // The first frame is a key frame; then every keyFrameEvery-th (0: none), and the next after a request.
    const key =
      first &&
      (this.#frame === 0 ||
        this.#keyFrameRequested ||
        (this.#keyFrameEvery > 0 && this.#frame % this.#keyFrameEvery === 0));
    if (key) this.#keyFrameRequested = false;
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
    this.#stamp?.(packet, this.#sent);
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

/** Whether an RTCP (compound) packet holds a PLI or FIR for `ssrc` (RFC 4585 / 5104). */
function isKeyFrameRequest(packet: Buffer, ssrc: number): boolean {
  let at = 0;
  while (at + 12 <= packet.length) {
    const version = packet[at]! >> 6;
    const fmt = packet[at]! & 0x1f;
    const type = packet[at + 1]!;
    const length = (packet.readUInt16BE(at + 2) + 1) * 4;
    if (version !== 2 || at + length > packet.length) return false;
    if (type === 206 && fmt === 1 && packet.readUInt32BE(at + 8) === ssrc) return true;
    if (type === 206 && fmt === 4 && length >= 20 && packet.readUInt32BE(at + 12) === ssrc) return true;
    at += length;
  }
  return false;
}
