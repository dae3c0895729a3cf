import type { types } from 'mediasoup';
import type { ConsumerInfo, MediaKind, ProducerInfo, Room } from './Room';

export type PlainRtpEndpointOptions = {
  /** Owner tag of the transport (Room.closePeer() closes it). Default "plain". */
  peerId?: string;
  /**
   * Injector: the transport learns the sender's address from its first packet (comedia). Sink: give
   * `remote` (or call connect() later) and leave this false.
   */
  comedia?: boolean;
  /** Where the transport sends what it consumes (a UDP sink). */
  remote?: { ip: string; port: number };
};

/**
 * A plain RTP transport in a room: the entry point for RTP from outside WebRTC (GStreamer, ffmpeg,
 * RtpReplayer) and the exit to a UDP sink. No ICE, DTLS or SRTP; RTCP is multiplexed on the RTP port.
 * It goes through the Room's id-based API exactly as the signaling layer does.
 */
export class PlainRtpEndpoint {
  readonly room: Room;
  readonly transportId: string;
  /** Where the transport listens: injectors send their RTP here. */
  readonly local: { ip: string; port: number };
  readonly peerId: string;
  #closed = false;

  static async create(room: Room, options: PlainRtpEndpointOptions = {}): Promise<PlainRtpEndpoint> {
    const peerId = options.peerId ?? 'plain';
    const info = await room.createPlainTransport({ peerId, comedia: options.comedia ?? false });
    const endpoint = new PlainRtpEndpoint(room, info.id, { ip: info.ip, port: info.port }, peerId);
    if (options.remote) {
      try {
        await endpoint.connect(options.remote);
      } catch (error) {
        endpoint.close();
        throw error;
      }
    }
    return endpoint;
  }

  private constructor(room: Room, transportId: string, local: { ip: string; port: number }, peerId: string) {
    this.room = room;
    this.transportId = transportId;
    this.local = local;
    this.peerId = peerId;
  }

  get closed(): boolean {
    return this.#closed || this.room.closed;
  }

  /** Tells the transport where to send consumed RTP. */
  async connect(remote: { ip: string; port: number }): Promise<void> {
    await this.room.connectPlainTransport(this.transportId, remote);
  }

  /** Announces the RTP stream an injector sends to `local` (its SSRC, payload type and codec). */
  async produce(
    kind: MediaKind,
    rtpParameters: types.RtpParameters,
    appData?: types.AppData,
  ): Promise<ProducerInfo> {
    return this.room.produce({
      transportId: this.transportId,
      kind,
      rtpParameters,
      ...(appData ? { appData } : {}),
    });
  }

  /**
   * Consumes a producer towards the connected remote. Created paused and resumed at once, as mediasoup
   * recommends (the resume triggers the key-frame request). Default capabilities: the router's own.
   */
  async consume(producerId: string, rtpCapabilities?: types.RtpCapabilities): Promise<ConsumerInfo> {
    const info = await this.room.consume({
      transportId: this.transportId,
      producerId,
      rtpCapabilities: rtpCapabilities ?? this.room.rtpCapabilities,
    });
    await this.room.resumeConsumer(info.id);
    return info;
  }

  /** Closes the transport and what was produced or consumed on it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.room.closed) {
      try {
        this.room.closeTransport(this.transportId);
      } catch {
        // Already gone with its room or closed by the owner: nothing left to release.
      }
    }
  }
}
