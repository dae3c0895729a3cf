import { type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { types } from 'mediasoup';
import type { ParticipantClaims } from '../../lib/auth/tokens';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { CloseCode, ErrorCode, SignalingError } from '../../proto/signaling/errors';
import type {
  ConsumeResult,
  Grants,
  MediaKind,
  NotificationMethod,
  Notifications,
  ParticipantInfo,
  ResponseData,
  TrackInfo,
  TrackSource,
  TransportInfo,
} from '../../proto/signaling/messages';
import { CascadeError } from '../cascade/CascadeError';
import type { PipeManager } from '../cascade/PipeManager';
import type { RemoteProducerCloseReason, RemoteProducerLease } from '../cascade/RemoteProducerLease';
import type { RemoteTrackSource } from '../cascade/RemoteTrackSource';
import type { SequencedMessage } from '../chat/ChatHistory';
import type { RemoteRoomView, RemoteTrack } from '../events/RemoteRoomState';
import type { RoomEventLog } from '../events/RoomEventLog';
import { MediaError } from '../media/MediaError';
import type { Room } from '../media/Room';
import type { RoomDirectory } from '../routing/RoomDirectory';
import { RateLimiter } from '../signaling/RateLimiter';
import { Participant, type ParticipantLink } from './Participant';
import type { PreparedMedia } from './PreparedMedia';

/** The chat service as a conference sees it (edge/chat/ChatService). */
export interface ChatPort {
  send(
    room: string,
    from: { identity: string; name: string },
    req: { text: string; to?: string; clientMessageId?: string },
  ): Promise<{ messageId: string; ts: number }>;
  system(room: string, about: { identity: string; name: string }, text: string): Promise<string>;
  recent(room: string, afterMessageId: string | undefined, limit?: number): Promise<SequencedMessage[]>;
  /** The room closed here: nothing more is delivered to it from this edge. */
  release(room: string): void;
}

export interface ConferenceOptions {
  region: string;
  node: string;
  /** How long a participant whose socket dropped is kept for a resume. */
  graceMs: number;
  chat: ChatPort;
  /** The room-events log in Kafka (edge/events/RoomEventLog). */
  events: Pick<RoomEventLog, 'joined' | 'left' | 'published' | 'unpublished' | 'muted' | 'closed'>;
  /** Chat messages per second (and burst) one participant may send. */
  chatRate: { perSecond: number; burst: number };
  /**
   * Cascade: the other regions' participants and tracks in a room (edge/events/RemoteRoomFeed), and the
   * pipes that bring a remote track here when a local participant consumes it. Unset: local only.
   */
  cascade?: {
    remote: (room: string) => RemoteRoomView;
    pipes: Pick<PipeManager, 'acquire'>;
    /**
     * Where a remote track is piped from (the owner, or this region's relay for another region's track);
     * unset: always from the owner, through `pipes`.
     */
    tracks?: Pick<RemoteTrackSource, 'acquire'>;
    /** Edges lost to the cascade (node → when), shared by the edge's conferences (see #lostNodes). */
    lostNodes?: Map<string, number>;
  };
  /** Traces remote subscriptions (pipe setup on both edges, then the wait for the first key frame). */
  tracer?: Tracer;
}

/** How long a remote subscription's trace waits for the viewer's first key frame. */
const FIRST_KEYFRAME_TRACE_MS = 10_000;

/** This conference's hold on one remote producer: one lease, shared by every local consumer of it. */
type RemoteHold = {
  producerId: string;
  owner: RemoteTrack['owner'];
  ready: Promise<RemoteProducerLease>;
  lease: RemoteProducerLease | undefined;
  /** Local consumers of the piped producer. */
  consumers: Set<string>;
  /** consume() calls waiting for the lease: they keep it from being released meanwhile. */
  pending: number;
  /** Each local consumer's preferred layers; the lease asks the owner for the highest. */
  layers: Map<string, types.ConsumerLayers>;
  released: boolean;
};

/** Lease ends that mean the track is gone (not this edge letting go of it). */
const TRACK_GONE: ReadonlySet<RemoteProducerCloseReason> = new Set([
  'producerclosed',
  'peerlost',
  'pipeclosed',
  'localclosed',
]);

export type ConferenceEvents = {
  /** The last participant left or the media room went away; the owner forgets the conference. */
  close: [reason: string];
};

/**
 * Chrome ignores a key frame request that comes within ~300 ms of the previous one, and mediasoup asks
 * again only after 1 s; so a viewer that joins right after another would wait a second for its first
 * picture. Asking again at these offsets after a consumer resumes bounds that wait; the retries stop as
 * soon as the consumer has been sent a key frame.
 */
const KEYFRAME_RETRY_MS = [350, 800];
const AUDIO_LEVELS_INTERVAL_MS = 250;

/**
 * One room on this edge: its media Room (one router), the participants connected here, and their
 * record in the region's Redis. It enforces grants and ownership (a participant acts only on its own
 * transports, producers and consumers) and turns media events into notifications.
 */
export class Conference extends TypedEmitter<ConferenceEvents> {
  readonly name: string;
  readonly #media: Room;
  readonly #directory: RoomDirectory;
  readonly #opts: ConferenceOptions;
  readonly #tracer: Tracer;
  /** Open "first key frame" spans of remote subscriptions, by local consumer id. */
  readonly #keyframeSpans = new Map<string, Span>();
  readonly #participants = new Map<string, Participant>();
  readonly #keyframeTimers = new Map<string, NodeJS.Timeout[]>();
  readonly #chatLimiters = new WeakMap<Participant, RateLimiter>();
  /** Other regions' participants and tracks as this room's local participants have been told of them. */
  readonly #shownRemote = new Map<string, ParticipantInfo>();
  readonly #shownTracks = new Map<string, RemoteTrack>();
  /** Remote tracks whose pipe ended (owner edge lost, producer closed): withdrawn until the log drops them. */
  readonly #withdrawn = new Set<string>();
  /**
   * Edges lost to the cascade (node → when): their participants are hidden rather than shown as ghosts,
   * until they join again (a join after the loss, e.g. on another edge of their region).
   */
  readonly #lostNodes: Map<string, number>;
  readonly #holds = new Map<string, RemoteHold>();
  /** Transports made for connections that have not joined yet (prepareMedia); they keep the room open. */
  readonly #prepared = new Set<PreparedMedia>();
  #lastAudioLevels = 0;
  #closed = false;

  constructor(name: string, media: Room, directory: RoomDirectory, opts: ConferenceOptions) {
    super();
    this.name = name;
    this.#media = media;
    this.#directory = directory;
    this.#opts = opts;
    this.#tracer = opts.tracer ?? trace.getTracer('meetview');
    // Shared with the edge's other conferences: one opened after a loss does not show its ghosts either.
    this.#lostNodes = opts.cascade?.lostNodes ?? new Map();
    this.#wireMedia();
    this.syncRemote();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get rtpCapabilities(): types.RtpCapabilities {
    return this.#media.rtpCapabilities;
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  get trackCount(): number {
    let n = 0;
    for (const p of this.#participants.values()) n += p.producers.size;
    return n;
  }

  participant(identity: string): Participant | undefined {
    return this.#participants.get(identity);
  }

  /**
   * Joins or resumes: a participant still held from a dropped socket re-attaches with everything it had;
   * otherwise a new participant enters and the others are told.
   */
  async join(
    claims: ParticipantClaims,
    link: ParticipantLink,
    options: {
      /** The last chat message the client has (a resumed session continues after it). */
      lastMessageId?: string | undefined;
      /** The client's capabilities: a new session gets its transports and consumers with the join. */
      rtpCapabilities?: unknown;
      /** The simulcast layer the client wants for cameras, set on its consumers before they run. */
      spatialLayer?: number | undefined;
      /** What this connection's prepare made: the join adopts it. */
      preparedMedia?: PreparedMedia | undefined;
    } = {},
  ): Promise<ResponseData['join']> {
    const { lastMessageId, rtpCapabilities, spatialLayer, preparedMedia } = options;
    this.#assertOpen();
    let participant = this.#participants.get(claims.identity);
    const resumed = participant !== undefined;
    // A resumed session keeps its own transports; ones prepared by this connection are not needed.
    if (resumed && preparedMedia) this.discardPrepared(preparedMedia);
    if (participant) {
      participant.grants = claims.grants;
      participant.hold();
      participant.attach(link, CloseCode.Replaced);
    } else {
      const info: ParticipantInfo = {
        identity: claims.identity,
        name: claims.name,
        region: this.#opts.region,
        node: this.#opts.node,
        joinedAt: Date.now(),
      };
      try {
        await this.#directory.putParticipant(this.name, info);
      } catch (err) {
        throw new SignalingError(
          ErrorCode.Unavailable,
          `room state is unavailable: ${(err as Error).message}`,
        );
      }
      // A concurrent join of the same identity may have won while we wrote to Redis.
      participant = this.#participants.get(claims.identity);
      if (participant) {
        participant.hold();
        participant.attach(link, CloseCode.Replaced);
      } else {
        participant = new Participant(info, claims.grants);
        participant.hold();
        participant.attach(link, CloseCode.Replaced);
        this.#participants.set(info.identity, participant);
        const p = participant;
        p.on('gracetimeout', () => void this.leave(p, 'timeout'));
        this.#broadcast('participant.joined', { participant: info }, info.identity);
        this.#opts.events.joined(this.name, info);
        this.#systemChat(info, 'joined');
      }
    }
    const self = participant;
    this.syncRemote();
    const [chat, prepared] = await Promise.all([
      this.#opts.chat.recent(this.name, lastMessageId).catch((err: Error) => {
        console.error(`[conference ${this.name}] chat history unavailable: ${err.message}`);
        return [] as SequencedMessage[];
      }),
      !resumed && preparedMedia
        ? this.#prepare(self, preparedMedia.rtpCapabilities, spatialLayer, preparedMedia)
        : !resumed && rtpCapabilities
          ? this.#prepare(self, rtpCapabilities, spatialLayer)
          : undefined,
    ]);
    participant.chatSentUpTo(chat.at(-1)?.seq ?? -1);
    return { ...this.#snapshot(participant, resumed), ...prepared, chat };
  }

  /**
   * Creates a new session's transports and its consumers of every track in the room during the join, so
   * the client's first frame needs no further round trip but transport.connect. A failure here is not a
   * failed join: the client falls back to creating what is missing itself.
   */
  async #prepare(
    p: Participant,
    rtpCapabilities: unknown,
    spatialLayer: number | undefined,
    preparedMedia?: PreparedMedia,
  ): Promise<Pick<ResponseData['join'], 'transports' | 'consumers'> | undefined> {
    p.rtpCapabilities = rtpCapabilities;
    const transports: TransportInfo[] = [];
    const consumers: ConsumeResult[] = [];
    if (preparedMedia && this.#prepared.delete(preparedMedia)) {
      // Made before the join and connected meanwhile: the participant takes them over. Its consumers
      // start paused and the client resumes each once its track exists, so the key frame asked for on
      // resume is not sent before the browser can decode it.
      for (const t of preparedMedia.transports) {
        p.transports.set(t.id, { id: t.id, direction: t.direction });
        transports.push(t);
      }
      if (p.grants.subscribe && transports.some((t) => t.direction === 'recv')) {
        // The prepared consumers are negotiated in the browser already: resume them now, so that the key
        // frame asked for on resume is on its way while the join response travels. Tracks published
        // since the prepare come paused; the client resumes those once their track exists.
        const resumed = await Promise.allSettled(
          preparedMedia.consumers.map(async (c) => {
            p.consumers.set(c.consumerId, c);
            try {
              if (spatialLayer !== undefined && c.kind === 'video' && c.source === 'camera')
                await media(() => this.#media.setPreferredLayers(c.consumerId, { spatialLayer }));
              await this.resumeConsumer(p, c.consumerId);
            } catch (err) {
              p.consumers.delete(c.consumerId);
              throw err;
            }
            return c;
          }),
        );
        for (const r of resumed) if (r.status === 'fulfilled') consumers.push(r.value);
        const have = new Set(consumers.map((c) => c.producerId));
        const results = await Promise.allSettled(
          this.#roomProducerIds(p)
            .filter((id) => !have.has(id))
            .map((id) => this.consume(p, id)),
        );
        for (const r of results) if (r.status === 'fulfilled') consumers.push(r.value);
      }
      return { transports, consumers };
    }
    try {
      const directions = (['recv', 'send'] as const).filter((d) =>
        d === 'recv' ? p.grants.subscribe : p.grants.publish,
      );
      // Settled one by one: a transport made here must reach the client, or its transport.create is refused.
      for (const r of await Promise.allSettled(directions.map((d) => this.createTransport(p, d))))
        if (r.status === 'fulfilled') transports.push(r.value);
        else
          console.error(
            `[conference ${this.name}] preparing a transport for ${p.identity} failed:`,
            r.reason,
          );
      if (p.grants.subscribe) {
        const results = await Promise.allSettled(
          this.#roomProducerIds(p).map((id) => this.consume(p, id, undefined, { paused: false })),
        );
        for (const r of results) if (r.status === 'fulfilled') consumers.push(r.value);
      }
    } catch (err) {
      console.error(`[conference ${this.name}] preparing ${p.identity}'s media failed:`, err);
      return transports.length > 0 ? { transports, consumers } : undefined;
    }
    return { transports, consumers };
  }

  /** Every track in the room that `p` may watch: the other local participants' and the remote ones shown. */
  #roomProducerIds(p: Participant): string[] {
    const ids: string[] = [];
    for (const other of this.#participants.values())
      if (other !== p) for (const id of other.producers.keys()) ids.push(id);
    for (const id of this.#shownTracks.keys()) ids.push(id);
    return ids;
  }

  /**
   * Transports for a connection that has not joined yet (the `prepare` request): a receive transport with
   * SCTP and a consumer of the room's warm-up channel on it, and a send transport when the grants allow.
   * Nobody is told; the join adopts them (see #prepare), or discardPrepared() closes them.
   */
  async prepareMedia(claims: ParticipantClaims, rtpCapabilities: unknown): Promise<PreparedMedia> {
    this.#assertOpen();
    const prepared: PreparedMedia = {
      identity: claims.identity,
      rtpCapabilities,
      transports: [],
      consumers: [],
      participants: [],
    };
    this.#prepared.add(prepared);
    try {
      const make = (direction: 'send' | 'recv') =>
        media(() =>
          this.#media.createWebRtcTransport({
            peerId: claims.identity,
            enableSctp: direction === 'recv',
            appData: { direction, prepared: true },
          }),
        ).then((info) => {
          prepared.transports.push({ ...info, direction });
          return info;
        });
      const [recv] = await Promise.all([
        claims.grants.subscribe ? make('recv') : undefined,
        claims.grants.publish ? make('send') : undefined,
      ]);
      if (recv) {
        const [warmup] = await Promise.all([
          media(() => this.#media.consumeWarmup(recv.id)),
          this.#prepareConsumers(prepared, recv.id),
        ]);
        prepared.warmup = warmup;
      }
    } catch (err) {
      this.discardPrepared(prepared);
      throw err;
    }
    return prepared;
  }

  /**
   * Paused consumers of the local participants' tracks for a connection that has not joined: its browser
   * negotiates them now, so the join only has to resume them and the first key frame can be asked for
   * while the join response is on its way. Remote tracks are left to the join (they need a pipe). A
   * consumer that cannot be made is simply not prepared.
   */
  async #prepareConsumers(prepared: PreparedMedia, transportId: string): Promise<void> {
    const others = [...this.#participants.values()].filter((p) => p.identity !== prepared.identity);
    prepared.participants = others.map((p) => p.info);
    const tracks = others.flatMap((p) =>
      [...p.producers.entries()].map(([producerId, pr]) => ({ p, producerId, pr })),
    );
    await Promise.all(
      tracks.map(async ({ p, producerId, pr }) => {
        try {
          const info = await this.#media.consume({
            transportId,
            producerId,
            rtpCapabilities: prepared.rtpCapabilities as types.RtpCapabilities,
            paused: true,
          });
          prepared.consumers.push({
            consumerId: info.id,
            producerId,
            identity: p.identity,
            kind: info.kind,
            source: pr.source,
            rtpParameters: info.rtpParameters,
            paused: true,
            producerPaused: info.producerPaused,
          });
        } catch {
          // Closed meanwhile, or capabilities that cannot receive it: the join consumes what is missing.
        }
      }),
    );
  }

  /** transport.connect, before the join, of a transport prepareMedia() made. */
  async connectPrepared(
    prepared: PreparedMedia,
    transportId: string,
    dtlsParameters: unknown,
  ): Promise<void> {
    if (!prepared.transports.some((t) => t.id === transportId))
      throw new SignalingError(ErrorCode.NotFound, `no prepared transport ${transportId} on this connection`);
    await media(() =>
      this.#media.connectWebRtcTransport(transportId, dtlsParameters as types.DtlsParameters),
    );
  }

  /** Closes the transports prepareMedia() made for a connection that did not join with them. */
  discardPrepared(prepared: PreparedMedia): void {
    if (!this.#prepared.delete(prepared)) return;
    if (!this.#media.closed) for (const t of prepared.transports) this.#media.closeTransport(t.id);
    prepared.transports = [];
    // A prejoin that never joined leaves no room behind.
    if (this.#participants.size === 0 && this.#prepared.size === 0) this.close('empty');
  }

  /** A chat message from the log, for the participants here that it is for. */
  deliverChat(message: SequencedMessage): void {
    if (message.to) {
      for (const identity of new Set([message.to, message.from.identity]))
        this.#participants.get(identity)?.deliverChat(message);
      return;
    }
    for (const p of this.#participants.values()) p.deliverChat(message);
  }

  async sendChat(
    p: Participant,
    req: { text: string; to?: string; clientMessageId?: string },
  ): Promise<ResponseData['chat.send']> {
    this.#requireGrant(p, 'chat');
    let limiter = this.#chatLimiters.get(p);
    if (!limiter) {
      limiter = new RateLimiter(this.#opts.chatRate.perSecond, this.#opts.chatRate.burst);
      this.#chatLimiters.set(p, limiter);
    }
    if (!limiter.take()) throw new SignalingError(ErrorCode.RateLimited, 'too many chat messages; slow down');
    return this.#opts.chat.send(this.name, { identity: p.identity, name: p.info.name }, req);
  }

  async chatHistory(
    after: string | undefined,
    limit: number | undefined,
  ): Promise<ResponseData['chat.history']> {
    return { messages: await this.#opts.chat.recent(this.name, after, limit) };
  }

  /** The socket of a participant dropped: keep it for the grace period. */
  detach(participant: Participant, link: ParticipantLink): void {
    participant.detach(link, this.#opts.graceMs);
  }

  /** `closeCode` null: the caller closes the socket itself (after answering the leave request). */
  async leave(
    participant: Participant,
    reason: string,
    closeCode: number | null = CloseCode.Left,
  ): Promise<void> {
    if (participant.left || this.#participants.get(participant.identity) !== participant) return;
    this.#participants.delete(participant.identity);
    const producerIds = [...participant.producers.keys()];
    for (const consumerId of participant.consumers.keys()) this.#clearKeyframeRetries(consumerId);
    participant.markLeft(closeCode, reason);
    for (const producerId of producerIds) {
      this.#broadcast('track.unpublished', { producerId, identity: participant.identity });
      this.#opts.events.unpublished(this.name, participant.info, producerId);
    }
    // Closing the peer's transports closes its producers, which closes the others' consumers of them.
    this.#media.closePeer(participant.identity);
    this.#broadcast('participant.left', { identity: participant.identity, reason });
    this.#opts.events.left(this.name, participant.info, reason);
    this.#systemChat(participant.info, 'left');
    await this.#directory
      .removeParticipant(this.name, participant.identity, producerIds)
      .catch((err) =>
        console.error(`[conference ${this.name}] could not remove ${participant.identity}:`, err),
      );
    if (this.#participants.size === 0 && this.#prepared.size === 0) this.close('empty');
  }

  // ---- operator actions (the core's Control service) --------------------------------------------

  /** Removes a participant for an operator: it is told why, disconnected, and the others see it leave. */
  async remove(identity: string, reason: string): Promise<boolean> {
    const p = this.#participants.get(identity);
    if (!p) return false;
    p.notify('session.closed', { code: ErrorCode.Closed, reason });
    await this.leave(p, `removed: ${reason}`, CloseCode.Removed);
    return true;
  }

  /** Posts an operator's message into the room's chat as a system message; resolves with its id. */
  systemMessage(text: string): Promise<string> {
    return this.#opts.chat.system(this.name, { identity: '', name: 'Meetview' }, text);
  }

  /** Ends the conference for everyone (operator action, or the media room is gone). */
  close(reason: string, closeCode: number = CloseCode.Removed): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#participants.values()) {
      p.notify('session.closed', { code: ErrorCode.Closed, reason });
      p.markLeft(closeCode, reason);
    }
    const identities = [...this.#participants.keys()];
    this.#participants.clear();
    for (const timers of this.#keyframeTimers.values()) for (const t of timers) clearTimeout(t);
    this.#keyframeTimers.clear();
    for (const hold of [...this.#holds.values()]) this.#release(hold);
    if (!this.#media.closed) this.#media.close();
    this.#opts.events.closed(this.name, reason);
    this.#opts.chat.release(this.name);
    for (const identity of identities)
      void this.#directory.removeParticipant(this.name, identity, []).catch(() => undefined);
    this.safeEmit('close', reason);
  }

  // ---- transports -------------------------------------------------------------------------------

  async createTransport(
    p: Participant,
    direction: 'send' | 'recv',
  ): Promise<ResponseData['transport.create']> {
    if (direction === 'send') this.#requireGrant(p, 'publish');
    else this.#requireGrant(p, 'subscribe');
    for (const t of p.transports.values())
      if (t.direction === direction)
        throw new SignalingError(ErrorCode.BadRequest, `a ${direction} transport already exists (${t.id})`);
    const info = await media(() =>
      this.#media.createWebRtcTransport({ peerId: p.identity, appData: { direction } }),
    );
    p.transports.set(info.id, { id: info.id, direction });
    return { ...info, direction };
  }

  async connectTransport(p: Participant, transportId: string, dtlsParameters: unknown): Promise<void> {
    const t = this.#ownTransport(p, transportId);
    await media(() =>
      this.#media.connectWebRtcTransport(transportId, dtlsParameters as types.DtlsParameters),
    );
    // Consumers created running (with the join) get their key frame requests from now on.
    if (t.direction === 'recv')
      for (const c of p.consumers.values())
        if (!c.paused && c.kind === 'video') this.#scheduleKeyframeRetries(c.consumerId);
  }

  async restartIce(p: Participant, transportId: string): Promise<ResponseData['transport.restartIce']> {
    this.#ownTransport(p, transportId);
    return { iceParameters: await media(() => this.#media.restartIce(transportId)) };
  }

  // ---- producers --------------------------------------------------------------------------------

  async produce(
    p: Participant,
    req: {
      transportId: string;
      kind: MediaKind;
      rtpParameters: unknown;
      source: TrackSource;
      paused?: boolean;
    },
  ): Promise<ResponseData['produce']> {
    this.#requireGrant(p, 'publish');
    const t = this.#ownTransport(p, req.transportId);
    if (t.direction !== 'send')
      throw new SignalingError(ErrorCode.BadRequest, 'produce needs the send transport');
    const expectedKind: MediaKind =
      req.source === 'microphone' || req.source === 'screen-audio' ? 'audio' : 'video';
    if (req.kind !== expectedKind)
      throw new SignalingError(ErrorCode.BadRequest, `a ${req.source} track must be ${expectedKind}`);
    for (const own of p.producers.values())
      if (own.source === req.source)
        throw new SignalingError(
          ErrorCode.BadRequest,
          `a ${req.source} track is already published (${own.producerId})`,
        );
    const info = await media(() =>
      this.#media.produce({
        transportId: req.transportId,
        kind: req.kind,
        rtpParameters: req.rtpParameters as types.RtpParameters,
        paused: req.paused ?? false,
        appData: { identity: p.identity, source: req.source },
      }),
    );
    p.producers.set(info.id, {
      producerId: info.id,
      kind: req.kind,
      source: req.source,
      paused: info.paused,
    });
    const track: TrackInfo = {
      producerId: info.id,
      identity: p.identity,
      kind: req.kind,
      source: req.source,
      paused: info.paused,
    };
    void this.#directory
      .putTrack(this.name, { ...track, node: this.#opts.node })
      .catch((err) => console.error(`[conference ${this.name}] putTrack:`, err));
    this.#broadcast('track.published', { track }, p.identity);
    this.#opts.events.published(this.name, p.info, track);
    return { producerId: info.id };
  }

  async pauseProducer(p: Participant, producerId: string): Promise<void> {
    const own = this.#ownProducer(p, producerId);
    await media(() => this.#media.pauseProducer(producerId));
    if (!own.paused) this.#opts.events.muted(this.name, p.info, producerId, true);
    own.paused = true;
  }

  async resumeProducer(p: Participant, producerId: string): Promise<void> {
    const own = this.#ownProducer(p, producerId);
    await media(() => this.#media.resumeProducer(producerId));
    if (own.paused) this.#opts.events.muted(this.name, p.info, producerId, false);
    own.paused = false;
  }

  closeProducer(p: Participant, producerId: string): void {
    this.#ownProducer(p, producerId);
    // The media room's 'producerclose' event does the bookkeeping and tells the others.
    media(() => this.#media.closeProducer(producerId));
  }

  // ---- consumers --------------------------------------------------------------------------------

  async consume(
    p: Participant,
    producerId: string,
    rtpCapabilities?: unknown,
    { paused = true }: { paused?: boolean } = {},
  ): Promise<ConsumeResult> {
    this.#requireGrant(p, 'subscribe');
    if (rtpCapabilities) p.rtpCapabilities = rtpCapabilities;
    if (!p.rtpCapabilities)
      throw new SignalingError(
        ErrorCode.BadRequest,
        'send rtpCapabilities with the first consume of a session',
      );
    const recv = [...p.transports.values()].find((t) => t.direction === 'recv');
    if (!recv) throw new SignalingError(ErrorCode.BadRequest, 'create a recv transport before consuming');
    const owner = this.#producerOwner(producerId);
    if (!owner) {
      const remote = this.#shownTracks.get(producerId);
      if (!remote) throw new SignalingError(ErrorCode.NotFound, `no track ${producerId} in this room`);
      return this.#consumeRemote(p, recv.id, remote, paused);
    }
    if (owner.participant === p)
      throw new SignalingError(ErrorCode.BadRequest, 'cannot consume your own track');
    for (const c of p.consumers.values()) if (c.producerId === producerId) return c; // Idempotent: a retried consume gets the same consumer.
    const info = await media(() =>
      this.#media.consume({
        transportId: recv.id,
        producerId,
        rtpCapabilities: p.rtpCapabilities as types.RtpCapabilities,
        paused,
      }),
    );
    const result: ConsumeResult = {
      consumerId: info.id,
      producerId,
      identity: owner.participant.identity,
      kind: info.kind,
      source: owner.producer.source,
      rtpParameters: info.rtpParameters,
      paused,
      producerPaused: info.producerPaused,
    };
    p.consumers.set(info.id, result);
    return result;
  }

  async resumeConsumer(p: Participant, consumerId: string): Promise<void> {
    const c = this.#ownConsumer(p, consumerId);
    await media(() => this.#media.resumeConsumer(consumerId));
    c.paused = false;
    if (c.kind === 'video') {
      this.#scheduleKeyframeRetries(consumerId);
      // A remote track: ask its owner edge at once too (a PLI would also cross the pipe, one hop later).
      this.#remoteKeyFrame(c.producerId);
    }
  }

  async pauseConsumer(p: Participant, consumerId: string): Promise<void> {
    const c = this.#ownConsumer(p, consumerId);
    await media(() => this.#media.pauseConsumer(consumerId));
    c.paused = true;
  }

  async setPreferredLayers(p: Participant, consumerId: string, spatialLayer: number, temporalLayer?: number) {
    const c = this.#ownConsumer(p, consumerId);
    const layers: types.ConsumerLayers = {
      spatialLayer,
      ...(temporalLayer === undefined ? {} : { temporalLayer }),
    };
    await media(() => this.#media.setPreferredLayers(consumerId, layers));
    // A remote track: the owner edge learns the highest layers any local viewer wants.
    const hold = this.#holds.get(c.producerId);
    if (hold?.consumers.has(consumerId)) {
      hold.layers.set(consumerId, layers);
      this.#sendLayers(hold);
    }
  }

  async requestKeyFrame(p: Participant, consumerId: string): Promise<void> {
    const c = this.#ownConsumer(p, consumerId);
    await media(() => this.#media.requestKeyFrame(consumerId));
    this.#remoteKeyFrame(c.producerId);
  }

  // ---- other regions (cascade) --------------------------------------------------------------------

  /**
   * Brings what the local participants were told of other regions in line with the remote room state:
   * participants joined/left and tracks published/unpublished/paused/resumed, through the same
   * notifications as local ones. Called when the room's remote state changed and when a pipe ended.
   */
  syncRemote(): void {
    const cascade = this.#opts.cascade;
    if (!cascade || this.#closed) return;
    const view = cascade.remote(this.name);
    // Someone connected here wins over a remote entry with the same identity.
    const wantedPeople = new Map<string, ParticipantInfo>();
    for (const [identity, rp] of view.participants) {
      const lostAt = this.#lostNodes.get(rp.owner.node);
      if (lostAt !== undefined && rp.info.joinedAt <= lostAt) continue;
      if (!this.#participants.has(identity)) wantedPeople.set(identity, rp.info);
    }
    for (const id of [...this.#withdrawn]) if (!view.tracks.has(id)) this.#withdrawn.delete(id);
    const wantedTracks = new Map<string, RemoteTrack>();
    for (const [id, rt] of view.tracks)
      if (wantedPeople.has(rt.track.identity) && !this.#withdrawn.has(id)) wantedTracks.set(id, rt);

    for (const [id, shown] of [...this.#shownTracks])
      if (!wantedTracks.has(id)) {
        this.#shownTracks.delete(id);
        const hold = this.#holds.get(id);
        if (hold) this.#release(hold); // its last release closes the piped producer and its consumers
        this.#broadcast('track.unpublished', { producerId: id, identity: shown.track.identity });
      }
    for (const identity of [...this.#shownRemote.keys()])
      if (!wantedPeople.has(identity)) {
        this.#shownRemote.delete(identity);
        const reason = view.leftReason(identity) ?? (view.participants.has(identity) ? 'edge lost' : 'left');
        this.#broadcast('participant.left', { identity, reason });
      }
    for (const [identity, info] of wantedPeople)
      if (!this.#shownRemote.has(identity)) {
        this.#shownRemote.set(identity, info);
        this.#broadcast('participant.joined', { participant: info });
      }
    for (const [id, rt] of wantedTracks) {
      const shown = this.#shownTracks.get(id);
      this.#shownTracks.set(id, rt);
      const { identity, paused } = rt.track;
      if (!shown) this.#broadcast('track.published', { track: { ...rt.track } });
      else if (shown.track.paused !== paused)
        this.#broadcast(paused ? 'track.paused' : 'track.resumed', { producerId: id, identity });
    }
  }

  /** An edge stopped answering the cascade: its tracks are withdrawn here rather than left frozen. */
  peerLost(node: string): void {
    let any = false;
    for (const [id, rt] of this.#shownTracks)
      if (rt.owner.node === node) {
        this.#withdrawn.add(id);
        any = true;
      }
    this.#lostNodes.set(node, Date.now());
    if ([...this.#shownRemote.values()].some((info) => info.node === node)) any = true;
    if (any) this.syncRemote();
  }

  /** The edge answers again, unchanged (see ConferenceManager.peerBack): show its people and tracks again. */
  peerBack(node: string): void {
    const cascade = this.#opts.cascade;
    if (!cascade || this.#closed) return;
    const view = cascade.remote(this.name);
    for (const id of [...this.#withdrawn])
      if (view.tracks.get(id)?.owner.node === node) this.#withdrawn.delete(id);
    this.#lostNodes.delete(node);
    this.syncRemote();
  }

  /** The remote tracks shown here and the leases held for them (diagnostics, tests). */
  remoteState(): { participants: string[]; tracks: string[]; leases: string[] } {
    return {
      participants: [...this.#shownRemote.keys()],
      tracks: [...this.#shownTracks.keys()],
      leases: [...this.#holds.values()].filter((h) => h.lease).map((h) => h.producerId),
    };
  }

  /**
   * A remote track for a local participant, traced: the `cascade.subscribe` span covers the pipe from the
   * owner edge (its gRPC calls and the owner's server spans are children) and the local consumer; a
   * `cascade.firstKeyFrame` span follows until the consumer sends its first key frame to the viewer.
   */
  #consumeRemote(
    p: Participant,
    transportId: string,
    remote: RemoteTrack,
    paused: boolean,
  ): Promise<ConsumeResult> {
    const attributes = {
      'meetview.room': this.name,
      'meetview.producer_id': remote.track.producerId,
      'meetview.owner_node': remote.owner.node,
      'meetview.owner_region': remote.owner.region,
      'meetview.viewer': p.identity,
    };
    return this.#tracer.startActiveSpan('cascade.subscribe', { attributes }, async (span) => {
      try {
        const result = await this.#consumeRemoteUntraced(p, transportId, remote, paused);
        if (result.kind === 'video' && !this.#keyframeSpans.has(result.consumerId)) {
          const wait = this.#tracer.startSpan('cascade.firstKeyFrame', { attributes });
          this.#keyframeSpans.set(result.consumerId, wait);
          setTimeout(() => {
            if (this.#keyframeSpans.get(result.consumerId) !== wait) return;
            this.#keyframeSpans.delete(result.consumerId);
            wait.setStatus({ code: SpanStatusCode.ERROR, message: 'no key frame in time' });
            wait.end();
          }, FIRST_KEYFRAME_TRACE_MS).unref();
        }
        return result;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  async #consumeRemoteUntraced(
    p: Participant,
    transportId: string,
    remote: RemoteTrack,
    paused: boolean,
  ): Promise<ConsumeResult> {
    const { producerId, identity, source } = remote.track;
    if (identity === p.identity)
      throw new SignalingError(ErrorCode.BadRequest, 'cannot consume your own track');
    for (const c of p.consumers.values()) if (c.producerId === producerId) return c;
    const hold = this.#holdFor(remote);
    hold.pending++;
    let info: Awaited<ReturnType<Room['consume']>>;
    try {
      await hold.ready;
      info = await media(() =>
        this.#media.consume({
          transportId,
          producerId,
          rtpCapabilities: p.rtpCapabilities as types.RtpCapabilities,
          paused,
        }),
      );
    } catch (err) {
      hold.pending--;
      this.#releaseIfUnused(hold);
      if (err instanceof CascadeError)
        throw new SignalingError(
          ErrorCode.Unavailable,
          `track ${producerId} could not be brought from ${remote.owner.node}: ${err.message}`,
        );
      throw err;
    }
    hold.pending--;
    hold.consumers.add(info.id);
    const result: ConsumeResult = {
      consumerId: info.id,
      producerId,
      identity,
      kind: info.kind,
      source,
      rtpParameters: info.rtpParameters,
      paused,
      producerPaused: info.producerPaused,
    };
    p.consumers.set(info.id, result);
    return result;
  }

  /** The hold on a remote producer, acquiring its pipe (from the owner edge or a relay) on first use. */
  #holdFor(remote: RemoteTrack): RemoteHold {
    const { producerId } = remote.track;
    const existing = this.#holds.get(producerId);
    if (existing && !existing.released) return existing;
    const cascade = this.#opts.cascade;
    if (!cascade) throw new SignalingError(ErrorCode.NotFound, `no track ${producerId} in this room`);
    const hold: RemoteHold = {
      producerId,
      owner: remote.owner,
      ready: cascade.tracks
        ? cascade.tracks.acquire(this.#media, producerId, remote.owner)
        : cascade.pipes.acquire({ room: this.#media, producerId, source: remote.owner }),
      lease: undefined,
      consumers: new Set(),
      pending: 0,
      layers: new Map(),
      released: false,
    };
    this.#holds.set(producerId, hold);
    hold.ready.then(
      (lease) => {
        if (hold.released) {
          lease.release();
          return;
        }
        hold.lease = lease;
        lease.on('close', (reason) => this.#onLeaseClose(hold, reason));
      },
      (err: Error) => {
        console.error(
          `[conference ${this.name}] piping ${producerId} from ${remote.owner.node}: ${err.message}`,
        );
        hold.released = true;
        if (this.#holds.get(producerId) === hold) this.#holds.delete(producerId);
      },
    );
    return hold;
  }

  /** The piped producer went away without us asking: its local consumers closed with it; withdraw it. */
  #onLeaseClose(hold: RemoteHold, reason: RemoteProducerCloseReason): void {
    hold.released = true;
    if (this.#holds.get(hold.producerId) === hold) this.#holds.delete(hold.producerId);
    if (this.#closed || !TRACK_GONE.has(reason)) return;
    const via = hold.lease?.peer.node;
    if (
      (reason === 'peerlost' || reason === 'pipeclosed') &&
      via !== undefined &&
      via !== hold.owner.node &&
      !this.#lostNodes.has(hold.owner.node)
    ) {
      // The relay it came through went away, not the owner: announce the track again, so the viewers
      // consume it again, through another relay or from the owner.
      const shown = this.#shownTracks.get(hold.producerId);
      console.error(`[conference ${this.name}] relay ${via} of ${hold.producerId} ended (${reason})`);
      if (shown) {
        this.#shownTracks.delete(hold.producerId);
        this.#broadcast('track.unpublished', { producerId: hold.producerId, identity: shown.track.identity });
      }
      this.syncRemote();
      return;
    }
    console.error(`[conference ${this.name}] remote track ${hold.producerId} ended: ${reason}`);
    this.#withdrawn.add(hold.producerId);
    this.syncRemote();
  }

  #releaseIfUnused(hold: RemoteHold): void {
    if (hold.consumers.size === 0 && hold.pending === 0) this.#release(hold);
  }

  #release(hold: RemoteHold): void {
    if (hold.released) return;
    hold.released = true;
    if (this.#holds.get(hold.producerId) === hold) this.#holds.delete(hold.producerId);
    // A lease still being acquired is released when it arrives (see #holdFor).
    hold.lease?.release();
  }

  #remoteKeyFrame(producerId: string): void {
    const lease = this.#holds.get(producerId)?.lease;
    if (lease && lease.kind === 'video')
      lease.requestKeyFrame().catch((err: Error) => {
        console.error(`[conference ${this.name}] key frame request for ${producerId}: ${err.message}`);
      });
  }

  #sendLayers(hold: RemoteHold): void {
    let best: types.ConsumerLayers | undefined;
    for (const l of hold.layers.values())
      if (
        !best ||
        l.spatialLayer > best.spatialLayer ||
        (l.spatialLayer === best.spatialLayer && (l.temporalLayer ?? 99) > (best.temporalLayer ?? 99))
      )
        best = l;
    hold.lease?.setPreferredLayers(best).catch((err: Error) => {
      console.error(`[conference ${this.name}] preferred layers for ${hold.producerId}: ${err.message}`);
    });
  }

  // ---- internals ---------------------------------------------------------------------------------

  #snapshot(self: Participant, resumed: boolean): Omit<ResponseData['join'], 'chat'> {
    const participants = [...this.#participants.values()].map((p) => p.info);
    for (const info of this.#shownRemote.values()) participants.push(info);
    const tracks: TrackInfo[] = [];
    for (const rt of this.#shownTracks.values()) tracks.push({ ...rt.track });
    for (const p of this.#participants.values())
      for (const own of p.producers.values())
        tracks.push({
          producerId: own.producerId,
          identity: p.identity,
          kind: own.kind,
          source: own.source,
          paused: own.paused,
        });
    return {
      room: this.name,
      self: { ...self.info, grants: self.grants },
      participants,
      tracks,
      routerRtpCapabilities: this.#media.rtpCapabilities,
      resumed,
      transports: resumed ? this.#resumeTransports(self) : [],
      producers: resumed ? [...self.producers.values()] : [],
      consumers: resumed ? [...self.consumers.values()] : [],
    };
  }

  // The transport parameters a resuming client needs are those it already has; ICE is restarted by it.
  #resumeTransports(p: Participant): ResponseData['join']['transports'] {
    return [...p.transports.values()].map((t) => ({
      id: t.id,
      direction: t.direction,
      iceParameters: null,
      iceCandidates: [],
      dtlsParameters: null,
    }));
  }

  #wireMedia(): void {
    const m = this.#media;
    const endKeyframeSpan = (consumerId: string, outcome?: string) => {
      const span = this.#keyframeSpans.get(consumerId);
      if (!span) return;
      this.#keyframeSpans.delete(consumerId);
      if (outcome) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
      span.end();
    };
    m.on('consumerkeyframe', ({ consumerId }) => endKeyframeSpan(consumerId));
    m.on('consumerclose', ({ consumerId }) =>
      endKeyframeSpan(consumerId, 'consumer closed before a key frame'),
    );
    m.on('producerclose', ({ producerId, peerId }) => {
      const p = this.#participants.get(peerId);
      if (!p?.producers.delete(producerId)) return;
      void this.#directory.removeTrack(this.name, producerId).catch(() => undefined);
      this.#opts.events.unpublished(this.name, p.info, producerId);
      this.#broadcast('track.unpublished', { producerId, identity: peerId }, peerId);
    });
    // A piped (remote) producer's pause reaches the participants through the room events instead.
    m.on('producerpause', ({ producerId, peerId }) => {
      if (this.#participants.has(peerId))
        this.#broadcast('track.paused', { producerId, identity: peerId }, peerId);
    });
    m.on('producerresume', ({ producerId, peerId }) => {
      if (this.#participants.has(peerId))
        this.#broadcast('track.resumed', { producerId, identity: peerId }, peerId);
    });
    // The viewer has its picture: further key frame requests would only cost bitrate.
    m.on('consumerkeyframe', ({ consumerId }) => this.#clearKeyframeRetries(consumerId));
    m.on('consumerclose', ({ consumerId, producerId, peerId }) => {
      this.#clearKeyframeRetries(consumerId);
      // A prepared consumer whose track closed before the join: it is not handed over.
      for (const prepared of this.#prepared)
        if (prepared.identity === peerId)
          prepared.consumers = prepared.consumers.filter((c) => c.consumerId !== consumerId);
      const p = this.#participants.get(peerId);
      if (p?.consumers.delete(consumerId)) p.notify('consumer.closed', { consumerId, producerId });
      // The last local viewer of a remote track gone: give the pipe back.
      const hold = this.#holds.get(producerId);
      if (hold?.consumers.delete(consumerId)) {
        hold.layers.delete(consumerId);
        if (hold.consumers.size === 0 && hold.pending === 0) this.#release(hold);
        else if (hold.layers.size > 0) this.#sendLayers(hold);
      }
    });
    m.on('consumerlayerschange', ({ consumerId, peerId, layers }) =>
      this.#participants.get(peerId)?.notify('consumer.layersChanged', {
        consumerId,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    m.on('activespeaker', ({ peerId, producerId }) =>
      this.#broadcast('activeSpeaker', { identity: this.#speaker(peerId, producerId) || null }),
    );
    m.on('silence', () => this.#broadcast('activeSpeaker', { identity: null }));
    m.on('audiolevels', (levels) => {
      const now = Date.now();
      if (now - this.#lastAudioLevels < AUDIO_LEVELS_INTERVAL_MS) return;
      this.#lastAudioLevels = now;
      this.#broadcast('audioLevels', {
        levels: levels.map((l) => ({ identity: this.#speaker(l.peerId, l.producerId), volume: l.volume })),
      });
    });
    m.on('close', (reason) => {
      // The worker died or the pool closed: clients reconnect and get a fresh conference.
      if (!this.#closed) this.close(`media ${reason}`, 1012);
    });
  }

  /** Who speaks through a producer: its local peer, or for a piped producer the remote track's owner. */
  #speaker(peerId: string, producerId: string): string {
    if (this.#participants.has(peerId)) return peerId;
    return this.#shownTracks.get(producerId)?.track.identity ?? peerId;
  }

  // "joined"/"left" lines in the chat travel the chat path, so every edge and region shows them in order.
  #systemChat(about: ParticipantInfo, text: string): void {
    this.#opts.chat
      .system(this.name, { identity: about.identity, name: about.name }, text)
      .catch((err) =>
        console.error(`[conference ${this.name}] system chat "${text}" failed: ${(err as Error).message}`),
      );
  }

  #broadcast<M extends NotificationMethod>(method: M, data: Notifications[M], except?: string): void {
    for (const p of this.#participants.values()) if (p.identity !== except) p.notify(method, data);
  }

  #scheduleKeyframeRetries(consumerId: string): void {
    this.#clearKeyframeRetries(consumerId);
    const timers = KEYFRAME_RETRY_MS.map((ms) => {
      const t = setTimeout(() => {
        if (!this.#media.closed) this.#media.requestKeyFrame(consumerId).catch(() => undefined);
      }, ms);
      t.unref();
      return t;
    });
    this.#keyframeTimers.set(consumerId, timers);
  }

  #clearKeyframeRetries(consumerId: string): void {
    for (const t of this.#keyframeTimers.get(consumerId) ?? []) clearTimeout(t);
    this.#keyframeTimers.delete(consumerId);
  }

  #requireGrant(p: Participant, grant: keyof Grants): void {
    if (!p.grants[grant]) throw new SignalingError(ErrorCode.Forbidden, `your token has no "${grant}" grant`);
  }

  #ownTransport(p: Participant, id: string) {
    const t = p.transports.get(id);
    if (!t) throw new SignalingError(ErrorCode.NotFound, `no transport ${id} of yours`);
    return t;
  }

  #ownProducer(p: Participant, id: string) {
    const own = p.producers.get(id);
    if (!own) throw new SignalingError(ErrorCode.NotFound, `no track ${id} of yours`);
    return own;
  }

  #ownConsumer(p: Participant, id: string) {
    const c = p.consumers.get(id);
    if (!c) throw new SignalingError(ErrorCode.NotFound, `no consumer ${id} of yours`);
    return c;
  }

  #producerOwner(producerId: string) {
    for (const participant of this.#participants.values()) {
      const producer = participant.producers.get(producerId);
      if (producer) return { participant, producer };
    }
    return undefined;
  }

  #assertOpen(): void {
    if (this.#closed) throw new SignalingError(ErrorCode.Closed, `room ${this.name} is closed`);
  }
}

/** Runs a media-core call and turns its typed MediaError into the signaling error the client sees. */
function media<T>(fn: () => T): T {
  try {
    const out = fn();
    if (out instanceof Promise)
      return out.catch((err: unknown) => Promise.reject(toSignalingError(err))) as T;
    return out;
  } catch (err) {
    throw toSignalingError(err);
  }
}

function toSignalingError(err: unknown): unknown {
  if (!(err instanceof MediaError)) return err;
  switch (err.code) {
    case 'TRANSPORT_NOT_FOUND':
    case 'PRODUCER_NOT_FOUND':
    case 'CONSUMER_NOT_FOUND':
      return new SignalingError(ErrorCode.NotFound, err.message);
    case 'ROOM_CLOSED':
    case 'WORKER_DIED':
    case 'POOL_CLOSED':
      return new SignalingError(ErrorCode.Unavailable, err.message);
    case 'INTERNAL':
    case 'NO_WORKER':
      return new SignalingError(ErrorCode.Internal, err.message);
    default:
      return new SignalingError(ErrorCode.BadRequest, err.message);
  }
}
