export { ROOM_MEDIA_CODECS } from './codecs';
export { MediaError, type MediaErrorCode } from './MediaError';
export { MediaWorker, type MediaWorkerSettings } from './MediaWorker';
export { PlainRtpEndpoint, type PlainRtpEndpointOptions } from './PlainRtpEndpoint';
export {
  DEFAULT_PLACEMENT_WEIGHTS,
  type PlacementWeights,
  pickWorker,
  placementScore,
  type WorkerLoad,
} from './placement';
export {
  type AudioLevel,
  type ConsumerCloseReason,
  type ConsumerInfo,
  type PlainTransportInfo,
  type ProducerInfo,
  Room,
  type RoomCloseReason,
  type RoomEvents,
  type WebRtcTransportInfo,
} from './Room';
export { RtpRecorder } from './RtpRecorder';
export { RtpReplayer } from './RtpReplayer';
export { RtpSourceProcess, type RtpSourceTarget } from './RtpSourceProcess';
export {
  encodeRtpDumpHeader,
  encodeRtpDumpPacket,
  parseRtpDump,
  type RtpDump,
  type RtpDumpPacket,
} from './rtpDump';
export { opusRtpParameters, vp8RtpParameters } from './rtpParameters';
export { UdpSink } from './UdpSink';
export { type WorkerInfo, WorkerPool, type WorkerPoolEvents, type WorkerPoolOptions } from './WorkerPool';
