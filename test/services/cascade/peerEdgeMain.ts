/**
 * A cascade edge in its own process, publishing one GStreamer VP8 stream in a room: the peer that the
 * peer-loss test freezes (SIGSTOP) or kills (SIGKILL). Prints one JSON line with its address and the
 * producer id once ready. Usage: tsx peerEdgeMain.ts '<json options>'.
 */
import { PlainRtpEndpoint } from '../../../edge/media/PlainRtpEndpoint';
import { RtpSourceProcess } from '../../../edge/media/RtpSourceProcess';
import { vp8RtpParameters } from '../../../edge/media/rtpParameters';
import { CascadeEdge, type CascadeEdgeOptions } from './cascadeEdge';

const options = JSON.parse(process.argv[2] ?? '{}') as CascadeEdgeOptions & { room: string; ssrc: number };
const edge = await CascadeEdge.start(options);
const room = await edge.room(options.room);
const ingress = await PlainRtpEndpoint.create(room, { peerId: 'remote-publisher', comedia: true });
const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: options.ssrc }), {
  source: 'camera',
});
const gst = RtpSourceProcess.gstreamerVp8({ ...ingress.local, ssrc: options.ssrc });
const stop = async () => {
  await gst.stop();
  await edge.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdout.write(`${JSON.stringify({ ref: edge.ref, producerId: producer.id })}\n`);
