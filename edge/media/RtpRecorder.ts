import { createSocket, type Socket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { encodeRtpDumpHeader, encodeRtpDumpPacket } from './rtpDump';

/**
 * Listens on a UDP port and records every packet with its arrival time, then writes an rtpdump file
 * that RtpReplayer (or rtptools' rtpplay) plays back. Point `udpsink`/ffmpeg at `address`.
 */
export class RtpRecorder {
  readonly #socket: Socket;
  readonly #chunks: Buffer[] = [];
  #startMs = 0;
  #startPerf = 0;
  #packets = 0;
  #stopped = false;

  static async bind(options: { ip?: string; port?: number } = {}): Promise<RtpRecorder> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, options.ip ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RtpRecorder(socket);
  }

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => {
      if (this.#stopped) return;
      const now = performance.now();
      if (this.#packets === 0) {
        this.#startMs = Date.now();
        this.#startPerf = now;
        this.#chunks.push(encodeRtpDumpHeader(this.#startMs, { ip: rinfo.address, port: rinfo.port }));
      }
      const isRtcp = msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223;
      this.#chunks.push(encodeRtpDumpPacket(now - this.#startPerf, msg, isRtcp));
      this.#packets++;
    });
  }

  get address(): { ip: string; port: number } {
    const { address, port } = this.#socket.address();
    return { ip: address, port };
  }

  get packets(): number {
    return this.#packets;
  }

  /** Stops listening and writes the rtpdump file; returns the number of packets recorded. */
  async stop(path: string): Promise<number> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#socket.close();
    }
    if (this.#packets === 0)
      throw new Error(`RtpRecorder: nothing was received on port ${this.address.port}`);
    await writeFile(path, Buffer.concat(this.#chunks));
    return this.#packets;
  }

  /** Stops without writing anything. */
  close(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#socket.close();
  }
}
