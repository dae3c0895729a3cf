import { createSocket, type Socket } from 'node:dgram';

/**
 * A UDP socket that counts the RTP packets it receives (RTCP is counted apart), per SSRC. The far end
 * of PlainRtpEndpoint consumers in tests and benchmarks.
 */
export class UdpSink {
  readonly #socket: Socket;
  readonly #perSsrc = new Map<number, number>();
  #rtp = 0;
  #rtcp = 0;
  #bytes = 0;
  #closed = false;

  static async bind(options: { ip?: string; port?: number; recvBufferSize?: number } = {}): Promise<UdpSink> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, options.ip ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    if (options.recvBufferSize) socket.setRecvBufferSize(options.recvBufferSize);
    return new UdpSink(socket);
  }

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg) => this.#onMessage(msg));
    socket.on('error', () => {
      // A sink only counts; ICMP-style errors are irrelevant to what it measures.
    });
  }

  get address(): { ip: string; port: number } {
    const { address, port } = this.#socket.address();
    return { ip: address, port };
  }

  /** RTP packets received so far. */
  get packets(): number {
    return this.#rtp;
  }

  get rtcpPackets(): number {
    return this.#rtcp;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** RTP packets received per SSRC. */
  packetsBySsrc(): Map<number, number> {
    return new Map(this.#perSsrc);
  }

  /**
   * Resolves once `count` RTP packets arrived (of `ssrc` if given, else in total); rejects after
   * timeoutMs with what did arrive.
   */
  async waitForPackets(count: number, timeoutMs: number, ssrc?: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const current = () => (ssrc === undefined ? this.#rtp : (this.#perSsrc.get(ssrc) ?? 0));
    while (current() < count) {
      if (Date.now() > deadline)
        throw new Error(
          `UdpSink ${this.address.port}: ${current()} of ${count} RTP packets` +
            `${ssrc === undefined ? '' : ` of SSRC ${ssrc}`} within ${timeoutMs} ms`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  reset(): void {
    this.#rtp = 0;
    this.#rtcp = 0;
    this.#bytes = 0;
    this.#perSsrc.clear();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }

  #onMessage(msg: Buffer): void {
    if (msg.length < 12 || msg[0]! >> 6 !== 2) return;
    const pt = msg[1]!;
    // RTCP packet types 192–223 overlap the marker bit + payload type byte of RTP (RFC 5761).
    if (pt >= 192 && pt <= 223) {
      this.#rtcp++;
      return;
    }
    this.#rtp++;
    this.#bytes += msg.length;
    const ssrc = msg.readUInt32BE(8);
    this.#perSsrc.set(ssrc, (this.#perSsrc.get(ssrc) ?? 0) + 1);
  }
}
