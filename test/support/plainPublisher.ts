import { SyntheticVp8Sender } from '../../bench/media/SyntheticVp8Sender';
import type { EdgeNode } from '../../edge/EdgeNode';
import { PlainRtpEndpoint } from '../../edge/media/PlainRtpEndpoint';
import { vp8RtpParameters } from '../../edge/media/rtpParameters';

/** A camera track with real RTP, published for a participant through its conference. */
export interface PlainPublication {
  producerId: string;
  sender: SyntheticVp8Sender;
  close(): void;
}

/**
 * Publishes a VP8 camera track for `identity` (already joined on `edge` through signaling) whose RTP
 * comes from a SyntheticVp8Sender over a PlainTransport, instead of a browser's WebRTC transport that a
 * signaling-only client cannot feed. The track goes through Conference.produce, so it is announced,
 * written to the room events and piped like a browser's; only the transport differs. The transport is
 * tagged with the participant's identity, so its leave closes it like any of its transports.
 */
export async function publishPlainVideo(
  edge: EdgeNode,
  room: string,
  identity: string,
  o: { ssrc: number; pps?: number; payloadBytes?: number },
): Promise<PlainPublication> {
  const conference = edge.manager.get(room);
  const participant = conference?.participant(identity);
  const media = edge.pool.getRoom(room);
  if (!conference || !participant || !media)
    throw new Error(`${identity} has not joined ${room} on ${edge.config.nodeId}`);
  const ingress = await PlainRtpEndpoint.create(media, { peerId: identity, comedia: true });
  participant.transports.set(ingress.transportId, { id: ingress.transportId, direction: 'send' });
  const { producerId } = await conference.produce(participant, {
    transportId: ingress.transportId,
    kind: 'video',
    source: 'camera',
    rtpParameters: vp8RtpParameters({ ssrc: o.ssrc }),
  });
  const sender = new SyntheticVp8Sender({
    target: ingress.local,
    pps: o.pps ?? 150,
    ssrc: o.ssrc,
    payloadBytes: o.payloadBytes ?? 900,
  });
  sender.start();
  return {
    producerId,
    sender,
    close: () => {
      sender.close();
      ingress.close();
    },
  };
}
