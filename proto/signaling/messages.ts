/**
 * The signaling contract between the browser and the edge (DESIGN.md, "Client signaling").
 * Shared by web/ and edge/: this file must stay free of Node-only imports.
 *
 * Frames are JSON text. Requests `{id, method, data}` get exactly one response `{id, ok: true, data}` or
 * `{id, ok: false, error: {code, message}}`; the server also sends notifications `{method, data}`.
 * mediasoup's own parameter objects (RTP, DTLS, ICE) travel as opaque objects here: their shape belongs to
 * mediasoup, which validates them on the server.
 */
import { z } from 'zod';

/** Largest frame the edge accepts; RTP parameters of a 3-layer simulcast producer are a few KiB. */
export const MAX_FRAME_BYTES = 64 * 1024;
export const MAX_CHAT_CHARS = 4000;
export const MAX_NAME_CHARS = 64;

/** Room names: URL-safe, so a room is reachable at /r/<room>; also a valid Redis hash tag and Kafka key. */
export const ROOM_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
export function isValidRoomName(room: string): boolean {
  return ROOM_NAME_RE.test(room);
}

const opaque = z.looseObject({});
const id = z.string().min(1).max(128);

export const TrackSource = z.enum(['microphone', 'camera', 'screen', 'screen-audio']);
export type TrackSource = z.infer<typeof TrackSource>;
export const MediaKind = z.enum(['audio', 'video']);
export type MediaKind = z.infer<typeof MediaKind>;

/** Request data schemas, one per method. */
export const requestSchemas = {
  join: z.strictObject({
    /** The id of the last chat message this client has, so a resumed session continues without a gap. */
    lastMessageId: z.string().max(128).optional(),
    /**
     * The client device's RTP capabilities. On a new session the server then creates the transports the
     * grants allow and a consumer for every track already in the room, and returns them with the join:
     * the client starts receiving without transport.create / consume / consumer.resume round trips.
     */
    rtpCapabilities: opaque.optional(),
    /**
     * The simulcast layer the client's grid will want for cameras (0–2, by its tile size): the consumers
     * the join resumes start on it, rather than switching layers (and waiting for a second key frame)
     * once the client lays its grid out.
     */
    spatialLayer: z.number().int().min(0).max(2).optional(),
    /**
     * The client also reads a frame that is a JSON array of notifications: the chat messages delivered
     * to it together (one Kafka batch) then arrive as one frame, `[{method: 'chat.message', data}, …]`,
     * each element the same notification as a frame of its own, in order. Without it, one per frame.
     */
    chatBatches: z.boolean().optional(),
  }),
  /**
   * Before the join, from the prejoin screen: the server makes this connection's transports now (nobody
   * is told; the connection is not a participant) and a data consumer of the room's warm-up channel on
   * the receive transport, so the browser completes ICE and DTLS while the person is still choosing a
   * camera. The join then adopts these transports. Once per connection; closed with it when it never joins.
   */
  prepare: z.strictObject({ rtpCapabilities: opaque }),
  leave: z.strictObject({}),
  'transport.create': z.strictObject({ direction: z.enum(['send', 'recv']) }),
  'transport.connect': z.strictObject({ transportId: id, dtlsParameters: opaque }),
  'transport.restartIce': z.strictObject({ transportId: id }),
  produce: z.strictObject({
    transportId: id,
    kind: MediaKind,
    rtpParameters: opaque,
    source: TrackSource,
    paused: z.boolean().optional(),
  }),
  'producer.pause': z.strictObject({ producerId: id }),
  'producer.resume': z.strictObject({ producerId: id }),
  'producer.close': z.strictObject({ producerId: id }),
  consume: z.strictObject({
    producerId: id,
    /** The client device's RTP capabilities; required on the first consume of a session, kept after. */
    rtpCapabilities: opaque.optional(),
  }),
  'consumer.resume': z.strictObject({ consumerId: id }),
  'consumer.pause': z.strictObject({ consumerId: id }),
  'consumer.setPreferredLayers': z.strictObject({
    consumerId: id,
    spatialLayer: z.number().int().min(0).max(3),
    temporalLayer: z.number().int().min(0).max(3).optional(),
  }),
  'consumer.requestKeyFrame': z.strictObject({ consumerId: id }),
  'chat.send': z.strictObject({
    text: z.string(),
    to: z.string().min(1).max(128).optional(),
    /** Chosen by the client; a retried send with the same id is acknowledged once, not posted twice. */
    clientMessageId: z.string().min(1).max(64).optional(),
  }),
  'chat.history': z.strictObject({
    after: z.string().max(128).optional(),
    limit: z.number().int().min(1).max(500).optional(),
  }),
} as const;

export type Method = keyof typeof requestSchemas;
export type RequestData<M extends Method> = z.infer<(typeof requestSchemas)[M]>;

export const requestFrame = z.strictObject({
  id: z.union([z.number().int().nonnegative(), z.string().min(1).max(64)]),
  method: z.string().min(1).max(64),
  data: z.unknown().optional(),
});
export type RequestFrame = z.infer<typeof requestFrame>;

export interface Grants {
  join: boolean;
  publish: boolean;
  subscribe: boolean;
  chat: boolean;
  files: boolean;
  admin: boolean;
}

export interface ParticipantInfo {
  identity: string;
  name: string;
  region: string;
  node: string;
  joinedAt: number;
}

export interface TrackInfo {
  producerId: string;
  identity: string;
  kind: MediaKind;
  source: TrackSource;
  paused: boolean;
}

export interface ChatMessageInfo {
  messageId: string;
  room: string;
  from: { identity: string; name: string };
  text: string;
  ts: number;
  to?: string;
  /** 'system' for joined/left/file messages written by the server. */
  kind?: 'user' | 'system';
  /** Position in the room's log: increases with every message of the room. */
  seq?: number;
  /** A file offer: the message announces this shared file (absent on every other message). */
  file?: FileOfferInfo;
}

/** A shared file as a chat message carries it; the bytes are at `GET /api/files/<id>` on any edge. */
export interface FileOfferInfo {
  id: string;
  name: string;
  size: number;
  /** The type sniffed from the content (not the uploader's claim). */
  type: string;
  sha256: string;
}

export interface TransportInfo {
  id: string;
  direction: 'send' | 'recv';
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
  /** On a transport made by `prepare`: SCTP, for the warm-up channel. */
  sctpParameters?: unknown;
}

/** The warm-up channel's data consumer on a prepared receive transport. */
export interface WarmupChannelInfo {
  id: string;
  dataProducerId: string;
  sctpStreamParameters: unknown;
  label: string;
  protocol: string;
}

/** Response data, per method. */
export interface ResponseData {
  join: {
    room: string;
    self: ParticipantInfo & { grants: Grants };
    participants: ParticipantInfo[];
    tracks: TrackInfo[];
    routerRtpCapabilities: unknown;
    /** True when this join re-attached to a session kept through a dropped socket. */
    resumed: boolean;
    /**
     * On resume: the transports kept for this participant (ids only; the client restarts ICE on them).
     * On a new session joined with rtpCapabilities: the transports created for it, with all parameters.
     */
    transports: TransportInfo[];
    /** On resume: the producers kept for this participant. */
    producers: { producerId: string; kind: MediaKind; source: TrackSource; paused: boolean }[];
    /**
     * On resume: the consumers kept for this participant. On a new session joined with rtpCapabilities:
     * the consumers created for the room's tracks, not paused (media flows once the transport connects).
     */
    consumers: ConsumeResult[];
    /**
     * Chat after the `lastMessageId` the client sent (the most recent messages when it sent none). The
     * live `chat.message` notifications continue right after the last of these: no gap, no repeat.
     */
    chat: ChatMessageInfo[];
  };
  prepare: {
    routerRtpCapabilities: unknown;
    transports: TransportInfo[];
    /** Absent when the token does not allow subscribing (no receive transport). */
    warmup?: WarmupChannelInfo;
    /**
     * Paused consumers of the tracks in the room now, on the receive transport. The join resumes those
     * still open (its `consumers` name them, `paused: false`); the client closes the others.
     */
    consumers: ConsumeResult[];
    /** Who is in the room here now (the client shows their prepared tracks as soon as it joins). */
    participants: ParticipantInfo[];
  };
  leave: Record<string, never>;
  'transport.create': TransportInfo;
  'transport.connect': Record<string, never>;
  'transport.restartIce': { iceParameters: unknown };
  produce: { producerId: string };
  'producer.pause': Record<string, never>;
  'producer.resume': Record<string, never>;
  'producer.close': Record<string, never>;
  consume: ConsumeResult;
  'consumer.resume': Record<string, never>;
  'consumer.pause': Record<string, never>;
  'consumer.setPreferredLayers': Record<string, never>;
  'consumer.requestKeyFrame': Record<string, never>;
  'chat.send': { messageId: string; ts: number };
  'chat.history': { messages: ChatMessageInfo[] };
}

export interface ConsumeResult {
  consumerId: string;
  producerId: string;
  identity: string;
  kind: MediaKind;
  source: TrackSource;
  rtpParameters: unknown;
  /** Consumers start paused on the server; the client resumes once its track is set up. */
  paused: boolean;
  producerPaused: boolean;
}

/** Notifications the server sends, with their data. */
export interface Notifications {
  'session.refused': { code: string; message: string };
  'session.redirect': { url: string; node: string };
  'session.closed': { code: string; reason: string };
  'participant.joined': { participant: ParticipantInfo };
  'participant.left': { identity: string; reason: string };
  'track.published': { track: TrackInfo };
  'track.unpublished': { producerId: string; identity: string };
  'track.paused': { producerId: string; identity: string };
  'track.resumed': { producerId: string; identity: string };
  /** To the track's owner: an operator paused (muted) or resumed its track on the server. */
  'track.muted': { producerId: string; muted: boolean };
  'consumer.closed': { consumerId: string; producerId: string };
  'consumer.layersChanged': { consumerId: string; spatialLayer: number | null; temporalLayer: number | null };
  activeSpeaker: { identity: string | null };
  audioLevels: { levels: { identity: string; volume: number }[] };
  'chat.message': ChatMessageInfo;
}
export type NotificationMethod = keyof Notifications;

export type ResponseFrame =
  | { id: number | string; ok: true; data: unknown }
  | { id: number | string; ok: false; error: { code: string; message: string } };
export type NotificationFrame<M extends NotificationMethod = NotificationMethod> = {
  method: M;
  data: Notifications[M];
};

export function isMethod(method: string): method is Method {
  return Object.hasOwn(requestSchemas, method);
}
