import { createSocket, type Socket } from 'node:dgram';
import { parseRtp, type RtpHeader } from './RtpHeader';

export interface ReceivedRtp {
  header: RtpHeader;
  packet: Buffer;
}

/** A UDP socket on 127.0.0.1 that records the RTP packets it receives (RTCP is counted apart). */
export class UdpRtpSink {
  readonly packets: ReceivedRtp[] = [];
  rtcpPackets = 0;
  otherDatagrams = 0;
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (packet) => {
      const header = parseRtp(packet);
      if (header) {
        // Keep the count exact but the memory bounded.
        if (this.packets.length < 20_000) this.packets.push({ header, packet });
      } else if (packet.length >= 8 && packet[0]! >> 6 === 2) this.rtcpPackets++;
      else this.otherDatagrams++;
    });
  }

  static async open(): Promise<UdpRtpSink> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new UdpRtpSink(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  packetsWith(filter: { ssrc?: number; payloadType?: number }): ReceivedRtp[] {
    return this.packets.filter(
      ({ header }) =>
        (filter.ssrc === undefined || header.ssrc === filter.ssrc) &&
        (filter.payloadType === undefined || header.payloadType === filter.payloadType),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
