import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { parseRtpDump, type RtpDumpPacket } from './rtpDump';

export type RtpReplayerEvents = {
  /** The file (every loop) was sent, or stop() was called. */
  done: [{ sent: number }];
};

type StreamLoop = { firstSeq: number; lastSeq: number; firstTs: number; lastTs: number; frameTs: number };

/**
 * Plays a recorded rtpdump file of RTP packets to a UDP address at the pace they were recorded
 * (RTCP records are skipped). With `loops` > 1 it rewrites sequence numbers and timestamps per SSRC on
 * each pass, so that the receiver sees one continuous stream rather than a jump back.
 */
export class RtpReplayer extends TypedEmitter<RtpReplayerEvents> {
  readonly #packets: RtpDumpPacket[];
  readonly #target: { ip: string; port: number };
  readonly #loops: number;
  readonly #socket: Socket;
  readonly #streams = new Map<number, StreamLoop>();
  #timer: NodeJS.Timeout | undefined;
  #sent = 0;
  #running = false;
  #finished: Promise<{ sent: number }> | undefined;

  static async fromFile(
    path: string,
    target: { ip: string; port: number },
    options: { loops?: number } = {},
  ): Promise<RtpReplayer> {
    const dump = parseRtpDump(await readFile(path));
    return new RtpReplayer(dump.packets, target, options.loops ?? 1);
  }

  constructor(packets: RtpDumpPacket[], target: { ip: string; port: number }, loops = 1) {
    super();
    this.#packets = packets.filter((p) => !p.isRtcp && p.data.length >= 12);
    if (this.#packets.length === 0) throw new Error('RtpReplayer: the recording holds no RTP packets');
    if (!Number.isInteger(loops) || loops < 1)
      throw new Error('RtpReplayer: loops must be a positive integer');
    this.#target = target;
    this.#loops = loops;
    this.#socket = createSocket('udp4');
    for (const p of this.#packets) {
      const ssrc = p.data.readUInt32BE(8);
      const seq = p.data.readUInt16BE(2);
      const ts = p.data.readUInt32BE(4);
      const s = this.#streams.get(ssrc);
      if (!s) this.#streams.set(ssrc, { firstSeq: seq, lastSeq: seq, firstTs: ts, lastTs: ts, frameTs: 0 });
      else {
        if (ts !== s.lastTs && s.frameTs === 0) s.frameTs = (ts - s.lastTs) >>> 0;
        s.lastSeq = seq;
        s.lastTs = ts;
      }
    }
  }

  /** SSRCs in the recording, with the payload type of their first packet (for the producer's parameters). */
  streams(): { ssrc: number; payloadType: number }[] {
    const seen = new Map<number, number>();
    for (const p of this.#packets) {
      const ssrc = p.data.readUInt32BE(8);
      if (!seen.has(ssrc)) seen.set(ssrc, p.data[1]! & 0x7f);
    }
    return [...seen].map(([ssrc, payloadType]) => ({ ssrc, payloadType }));
  }

  /** Length of one pass in ms. */
  get durationMs(): number {
    return this.#packets[this.#packets.length - 1]!.offsetMs - this.#packets[0]!.offsetMs;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Starts sending; the promise resolves when every loop was sent (or stop() was called). */
  start(): Promise<{ sent: number }> {
    if (this.#finished) return this.#finished;
    this.#running = true;
    this.#finished = new Promise((resolve) => {
      this.once('done', resolve);
    });
    const base = this.#packets[0]!.offsetMs;
    const passMs = this.durationMs + 20;
    const start = performance.now();
    let i = 0;
    let loop = 0;
    const tick = (): void => {
      if (!this.#running) return;
      const elapsed = performance.now() - start;
      // Send everything that is due, then sleep until the next packet is.
      while (loop < this.#loops) {
        const p = this.#packets[i]!;
        const due = loop * passMs + (p.offsetMs - base);
        if (due > elapsed) {
          this.#timer = setTimeout(tick, Math.max(1, due - elapsed));
          return;
        }
        this.#socket.send(this.#rewrite(p.data, loop), this.#target.port, this.#target.ip);
        this.#sent++;
        if (++i === this.#packets.length) {
          i = 0;
          loop++;
        }
      }
      this.#finish();
    };
    tick();
    return this.#finished;
  }

  stop(): void {
    this.#finish();
  }

  #finish(): void {
    if (!this.#running) return;
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    // Let queued sends drain before the socket goes.
    setTimeout(() => this.#socket.close(), 50);
    this.safeEmit('done', { sent: this.#sent });
  }

  #rewrite(data: Buffer, loop: number): Buffer {
    if (loop === 0) return data;
    const out = Buffer.from(data);
    const s = this.#streams.get(out.readUInt32BE(8));
    if (!s) return out;
    const seqSpan = ((s.lastSeq - s.firstSeq + 1) & 0xffff) * loop;
    const tsSpan = (((s.lastTs - s.firstTs) >>> 0) + (s.frameTs || 3000)) * loop;
    out.writeUInt16BE((out.readUInt16BE(2) + seqSpan) & 0xffff, 2);
    out.writeUInt32BE((out.readUInt32BE(4) + tsSpan) >>> 0, 4);
    return out;
  }
}
