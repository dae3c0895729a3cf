import type { types as ms } from 'mediasoup-client';
import { Device } from 'mediasoup-client';
import { ErrorCode } from '../../../proto/signaling/errors';
import type {
  ConsumeResult,
  Grants,
  MediaKind,
  Notifications,
  ParticipantInfo,
  ResponseData,
  TrackInfo,
  TrackSource,
  TransportInfo,
} from '../../../proto/signaling/messages';
import { ChatStore } from './ChatStore';
import { Emitter } from './Emitter';
import {
  ClientErrorCode,
  type CloseInfo,
  type ConnectionState,
  RequestError,
  SignalingClient,
  type SignalingClientOptions,
} from './SignalingClient';

export type SessionState = 'idle' | 'joining' | 'joined' | 'reconnecting' | 'closed';

/** A track someone else publishes, and our consumer of it once it exists. */
export interface RemoteTrack {
  producerId: string;
  identity: string;
  kind: MediaKind;
  source: TrackSource;
  /** The publisher paused it (muted microphone, camera paused). */
  producerPaused: boolean;
  consumer: ms.Consumer | null;
  track: MediaStreamTrack | null;
}

/** Local sources this client publishes. */
export type LocalSource = 'microphone' | 'camera' | 'screen';

export interface Notice {
  code: string;
  message: string;
}

export interface JoinOptions {
  /** Tracks already captured (the prejoin preview); the session owns them from now on. */
  microphone?: MediaStreamTrack | null;
  camera?: MediaStreamTrack | null;
  /** Join with the microphone muted (its track is kept, its producer paused). */
  microphoneMuted?: boolean;
  microphoneDeviceId?: string | null;
  cameraDeviceId?: string | null;
  /**
   * The router's RTP capabilities if known before join (the edge may publish them in /api/config): the
   * Device loads while the socket connects. If join answers different ones, the Device is made again.
   */
  routerRtpCapabilities?: unknown;
  /** A Device already loaded with exactly `routerRtpCapabilities` (see loadDevice), e.g. during the prejoin. */
  device?: Promise<Device>;
  /**
   * The simulcast layer the grid will want for camera tiles when `people` are in the meeting (the view's
   * estimate): sent with the join, so the consumers it resumes start on that layer.
   */
  cameraLayer?: (people: number) => number;
}

/** How long publishing waits at most for the first remote video at join (see #build). */
const RECEIVE_FIRST_MS = 600;
/** After the first remote packets: time for the first frame to be decoded and shown before publishing. */
const FIRST_FRAME_SETTLE_MS = 80;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Detects the browser's handler and loads a Device with the router's capabilities: tens to hundreds of
 * milliseconds (it probes an RTCPeerConnection), so the app starts it before the person presses Join.
 */
export async function loadDevice(routerRtpCapabilities: unknown): Promise<Device> {
  const device = await Device.factory();
  await device.load({ routerRtpCapabilities: routerRtpCapabilities as ms.RtpCapabilities });
  return device;
}

export type MeetingSessionEvents = {
  state: [SessionState];
  connection: [ConnectionState];
  /** Participants, remote tracks or local media changed: views re-read the getters. */
  changed: [];
  activeSpeaker: [string | null];
  audioLevels: [Notifications['audioLevels']['levels']];
  /** Something the user should know that does not end the session (e.g. no publish grant). */
  notice: [Notice];
  /** The session ended: refused, removed, replaced, left, or unreachable. */
  closed: [CloseInfo];
  /** prepare(): the receive transport is connected; a join now starts receiving at once. */
  prepared: [];
};

/** Camera simulcast: three spatial layers, a quarter, half and full resolution. */
export const CAMERA_ENCODINGS: ms.RtpEncodingParameters[] = [
  { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

export const CAMERA_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30 },
};

export interface TrackStats {
  producerId: string;
  identity: string;
  kind: MediaKind;
  source: TrackSource;
  framesDecoded: number;
  packetsReceived: number;
  bytesReceived: number;
  totalSamplesReceived: number;
  frameWidth: number;
  frameHeight: number;
}

/**
 * The meeting as the client sees it: one SignalingClient, one mediasoup-client Device with a send and a
 * receive transport, local producers and a consumer for every remote track. Views read its getters and
 * listen to its events; nothing here touches the DOM.
 */
export class MeetingSession extends Emitter<MeetingSessionEvents> {
  readonly signaling: SignalingClient;
  /** The room's chat; its last message id is where the join after a reconnect continues from. */
  readonly chat: ChatStore;
  #state: SessionState = 'idle';
  #device: Device | null = null;
  /** A Device created ahead of the join that will load it (a Device loads once). */
  #nextDevice: Promise<Device> | null = null;
  /** The capabilities #nextDevice was loaded with, if any. */
  #nextDeviceCaps: string | null = null;
  #send: ms.Transport | null = null;
  #recv: ms.Transport | null = null;
  /** Bumped on every (re)join and rebuild, so that work of an older attempt stops touching state. */
  #generation = 0;
  #room = '';
  #self: (ParticipantInfo & { grants: Grants }) | null = null;
  readonly #participants = new Map<string, ParticipantInfo>();
  readonly #remote = new Map<string, RemoteTrack>();
  readonly #producers = new Map<LocalSource, ms.Producer>();
  readonly #localTracks = new Map<LocalSource, MediaStreamTrack>();
  #micMuted = false;
  #publishDenied = false;
  #activeSpeaker: string | null = null;
  #microphoneDeviceId: string | null = null;
  #cameraDeviceId: string | null = null;
  #closeInfo: CloseInfo | null = null;
  #resumed = false;
  #routerRtpCapabilities: unknown = null;
  readonly #preferredLayers = new Map<string, number>();
  #joins = 0;
  #joinedPrepared = false;
  /** The socket was started (by prepare() or join()). */
  #connecting = false;
  /** The prepare on the current socket, settled when it answered (or failed). */
  #preparing: Promise<void> | null = null;
  /** The prepare on the current socket has settled. */
  #prepared = false;
  /** Consumers the prepare made (paused on the edge), by id, negotiated on the receive transport ahead of the join. */
  readonly #preparedConsumers = new Map<string, Promise<ms.Consumer | null>>();
  /** How many people published the tracks the prepare found (0: not prepared). */
  #preparedPeople = 0;
  /** The prepare's view of the room: shown at join() before the edge answers (see #showPrepared). */
  #preparedRoom: { participants: ParticipantInfo[]; tracks: RemoteTrack[] } | null = null;
  #cameraLayer: ((people: number) => number) | undefined;
  #preparedConsumersUsed = 0;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: SignalingClientOptions) {
    super();
    this.signaling = new SignalingClient(options);
    this.chat = new ChatStore((data) => this.signaling.request('chat.send', data));
  }

  get state(): SessionState {
    return this.#state;
  }
  get connectionState(): ConnectionState {
    return this.signaling.state;
  }
  get room(): string {
    return this.#room;
  }
  get self(): (ParticipantInfo & { grants: Grants }) | null {
    return this.#self;
  }
  /** Everyone else in the room. */
  get participants(): ParticipantInfo[] {
    return [...this.#participants.values()];
  }
  get remoteTracks(): RemoteTrack[] {
    return [...this.#remote.values()];
  }
  get activeSpeaker(): string | null {
    return this.#activeSpeaker;
  }
  /** False for a viewer: the token has no publish grant, or the server refused to let us produce. */
  get canPublish(): boolean {
    return !this.#publishDenied && (this.#self?.grants.publish ?? true);
  }
  get microphoneOn(): boolean {
    return this.#localTracks.has('microphone') && !this.#micMuted;
  }
  get cameraOn(): boolean {
    return this.#localTracks.has('camera');
  }
  get screenOn(): boolean {
    return this.#localTracks.has('screen');
  }
  localTrack(source: LocalSource): MediaStreamTrack | null {
    return this.#localTracks.get(source) ?? null;
  }
  producer(source: LocalSource): ms.Producer | null {
    return this.#producers.get(source) ?? null;
  }
  /** The room router's RTP capabilities from the last join (null before). */
  get routerRtpCapabilities(): unknown {
    return this.#routerRtpCapabilities;
  }
  /** Whether the first join received on the connection prepare() made (its receive transport adopted). */
  get joinedPrepared(): boolean {
    return this.#joinedPrepared;
  }
  /** How many consumers the joins took over from prepare() (negotiated before the click). */
  get preparedConsumersUsed(): number {
    return this.#preparedConsumersUsed;
  }
  /** Whether the last join re-attached to the session the server kept (true after a resumed reconnect). */
  get resumed(): boolean {
    return this.#resumed;
  }
  /** Completed joins: 1 after the first, +1 after each reconnect. */
  get joinCount(): number {
    return this.#joins;
  }
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /**
   * From the prejoin screen, before the person presses Join: opens the socket and has the edge make this
   * session's transports now (the `prepare` request; nobody in the room is told), and connects the receive
   * transport over the room's warm-up channel. ICE and DTLS are then done by the time of join(), which
   * needs one round trip before the first remote frame. Emits `prepared` once connected. A session that is
   * never joined is ended with leave().
   */
  prepare(options: Pick<JoinOptions, 'routerRtpCapabilities' | 'device'>): void {
    if (this.#state !== 'idle' || this.#connecting) return;
    this.#useDevice(options);
    this.#connecting = true;
    this.#listen();
    this.signaling.connect();
  }

  /** Connects (unless prepare() did) and joins; resolves once the first join completed (or the session closed). */
  join(options: JoinOptions = {}): Promise<void> {
    if (this.#state !== 'idle') throw new Error('MeetingSession.join() called twice');
    if (options.microphone) this.#localTracks.set('microphone', options.microphone);
    if (options.camera) this.#localTracks.set('camera', options.camera);
    this.#micMuted = options.microphoneMuted ?? false;
    if (options.microphone) options.microphone.enabled = !this.#micMuted;
    this.#microphoneDeviceId = options.microphoneDeviceId ?? null;
    this.#cameraDeviceId = options.cameraDeviceId ?? null;
    this.#cameraLayer = options.cameraLayer;
    performance.mark('meetview:join');
    if (!this.#connecting) this.#useDevice(options);
    this.#showPrepared();
    this.#setState('joining');
    const done = new Promise<void>((resolve) => {
      const offState = this.on('state', (s) => {
        if (s === 'joined' || s === 'closed') {
          offState();
          resolve();
        }
      });
    });
    if (!this.#connecting) {
      this.#connecting = true;
      this.#listen();
      this.signaling.connect();
    } else if (this.#prepared && this.signaling.state === 'connected') {
      // Prepared on the open socket: join now, in this task.
      void this.#joinNow(this.#generation);
    } else if (this.#preparing) {
      // Preparing on an open socket: join on it as soon as the prepare answered. Were the socket to drop
      // meanwhile, its next open joins instead (the generation tells).
      const generation = this.#generation;
      void this.#preparing.then(() => {
        if (generation === this.#generation && this.signaling.state === 'connected')
          void this.#joinNow(generation);
      });
    }
    // Otherwise the socket is still opening: its open joins (#onOpen).
    return done;
  }

  // Detecting the browser's handler and loading it take a while: do it while the socket connects. With
  // the router's capabilities known ahead (the edge's /api/config), the device is loaded by join time.
  #useDevice(options: Pick<JoinOptions, 'routerRtpCapabilities' | 'device'>): void {
    const early = options.routerRtpCapabilities;
    this.#nextDevice =
      early && options.device
        ? options.device.catch(() => loadDevice(early))
        : early
          ? loadDevice(early)
          : Device.factory();
    this.#nextDeviceCaps = early ? JSON.stringify(early) : null;
    this.#nextDevice.catch(() => undefined);
  }

  async setMicrophoneEnabled(on: boolean): Promise<void> {
    const track = this.#localTracks.get('microphone');
    if (!on) {
      this.#micMuted = true;
      if (track) track.enabled = false;
      const p = this.#producers.get('microphone');
      if (p && !p.paused) {
        p.pause();
        this.#fireAndForget('producer.pause', { producerId: p.id });
      }
      this.emit('changed');
      return;
    }
    this.#micMuted = false;
    if (!track) {
      const t = await this.#capture('microphone');
      if (!t) return;
    } else track.enabled = true;
    const p = this.#producers.get('microphone');
    if (p) {
      if (p.paused) {
        p.resume();
        this.#fireAndForget('producer.resume', { producerId: p.id });
      }
    } else await this.#produce('microphone');
    this.emit('changed');
  }

  async setCameraEnabled(on: boolean): Promise<void> {
    if (!on) {
      // Closing (not pausing) turns the camera light off; the others see the avatar.
      this.#unpublish('camera');
      this.emit('changed');
      return;
    }
    if (this.#localTracks.has('camera')) return;
    if (!(await this.#capture('camera'))) return;
    await this.#produce('camera');
    this.emit('changed');
  }

  async startScreenShare(): Promise<void> {
    if (this.#localTracks.has('screen')) return;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: { frameRate: { ideal: 15 } },
        audio: false,
      });
    } catch (error) {
      // The user cancelling the picker is not an error worth a message.
      if ((error as DOMException).name !== 'NotAllowedError') {
        this.emit('notice', { code: 'SCREEN_FAILED', message: String((error as Error).message ?? error) });
      }
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => this.stopScreenShare());
    this.#localTracks.set('screen', track);
    this.emit('changed');
    await this.#produce('screen');
    this.emit('changed');
  }

  stopScreenShare(): void {
    if (!this.#localTracks.has('screen')) return;
    this.#unpublish('screen');
    this.emit('changed');
  }

  /** Leaves the room and releases everything. */
  async leave(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.signaling.state === 'connected') {
      await this.signaling.request('leave', {}, 2000).catch(() => undefined);
    }
    this.#finish({ kind: 'left', closeCode: 4000, error: null });
  }

  /**
   * Asks the server for the simulcast layer that suits how large a remote camera is shown (0 = quarter,
   * 1 = half, 2 = full resolution), so small tiles do not cost full-resolution bandwidth. Repeated calls
   * with the same layer send nothing.
   */
  setPreferredSpatialLayer(producerId: string, spatialLayer: number): void {
    const r = this.#remote.get(producerId);
    if (!r?.consumer || r.kind !== 'video' || r.source !== 'camera') return;
    if (this.#preferredLayers.get(r.consumer.id) === spatialLayer) return;
    if (this.signaling.state !== 'connected') return;
    this.#preferredLayers.set(r.consumer.id, spatialLayer);
    this.signaling
      .request('consumer.setPreferredLayers', { consumerId: r.consumer.id, spatialLayer })
      .catch((e) => console.warn('setPreferredLayers failed', e));
  }

  /** Receive-side statistics of every consumer (used by the browser tests and the debug overlay). */
  async stats(): Promise<TrackStats[]> {
    const out: TrackStats[] = [];
    for (const r of this.#remote.values()) {
      if (!r.consumer || r.consumer.closed) continue;
      const s: TrackStats = {
        producerId: r.producerId,
        identity: r.identity,
        kind: r.kind,
        source: r.source,
        framesDecoded: 0,
        packetsReceived: 0,
        bytesReceived: 0,
        totalSamplesReceived: 0,
        frameWidth: 0,
        frameHeight: 0,
      };
      const report = await r.consumer.getStats();
      report.forEach((v: Record<string, unknown>) => {
        if (v.type !== 'inbound-rtp') return;
        s.framesDecoded += Number(v.framesDecoded ?? 0);
        s.packetsReceived += Number(v.packetsReceived ?? 0);
        s.bytesReceived += Number(v.bytesReceived ?? 0);
        s.totalSamplesReceived += Number(v.totalSamplesReceived ?? 0);
        s.frameWidth = Math.max(s.frameWidth, Number(v.frameWidth ?? 0));
        s.frameHeight = Math.max(s.frameHeight, Number(v.frameHeight ?? 0));
      });
      out.push(s);
    }
    return out;
  }

  // ---- signaling ----

  #listen(): void {
    const sig = this.signaling;
    this.#unsubscribe.push(
      sig.on('state', (s) => {
        if (s !== 'connected') this.chat.setOffline();
        if (s === 'reconnecting' && this.#state === 'joined') this.#setState('reconnecting');
        this.emit('connection', s);
      }),
      sig.on('open', () => void this.#onOpen()),
      sig.on('closed', (info) => this.#finish(info)),
      sig.onNotification('participant.joined', ({ participant }) => {
        if (participant.identity === this.#self?.identity) return;
        this.#participants.set(participant.identity, participant);
        this.emit('changed');
      }),
      sig.onNotification('participant.left', ({ identity }) => {
        this.#participants.delete(identity);
        for (const r of [...this.#remote.values()])
          if (r.identity === identity) this.#dropRemote(r.producerId);
        if (this.#activeSpeaker === identity) this.#setActiveSpeaker(null);
        this.emit('changed');
      }),
      sig.onNotification('track.published', ({ track }) => void this.#consume(track, this.#generation)),
      sig.onNotification('track.unpublished', ({ producerId }) => {
        this.#dropRemote(producerId);
        this.emit('changed');
      }),
      sig.onNotification('track.paused', ({ producerId }) => this.#setProducerPaused(producerId, true)),
      sig.onNotification('track.resumed', ({ producerId }) => this.#setProducerPaused(producerId, false)),
      sig.onNotification('consumer.closed', ({ producerId }) => {
        this.#dropRemote(producerId);
        this.emit('changed');
      }),
      sig.onNotification('activeSpeaker', ({ identity }) => this.#setActiveSpeaker(identity)),
      sig.onNotification('audioLevels', ({ levels }) => this.emit('audioLevels', levels)),
      sig.onNotification('chat.message', (m) => this.chat.receive(m)),
    );
  }

  async #onOpen(): Promise<void> {
    const generation = ++this.#generation;
    this.#prepared = false;
    if (this.#joins === 0) performance.mark('meetview:ws-open');
    // Opened by prepare() and not joined yet: prepare; join() takes it from there.
    if (this.#state === 'idle') return this.#prepareNow(generation);
    return this.#joinNow(generation);
  }

  /**
   * Joining a prepared session: the people and tracks the prepare found are shown at once, their tracks
   * on the consumers the browser negotiated then. The edge resumes those with the join, so their frames
   * can play as soon as they come, without waiting for the join response to build the tiles. The join
   * response then confirms them (#build keeps those it handed over and drops the others).
   */
  #showPrepared(): void {
    const room = this.#preparedRoom;
    this.#preparedRoom = null;
    if (!room || !this.#recv || this.#recv.closed) return;
    for (const p of room.participants) this.#participants.set(p.identity, p);
    for (const t of room.tracks) if (!t.consumer?.closed) this.#remote.set(t.producerId, { ...t });
  }

  /** The `prepare` request, then the receive transport and its warm-up channel (see prepare()). */
  async #prepareNow(generation: number): Promise<void> {
    let settle!: () => void;
    this.#preparing = new Promise<void>((resolve) => {
      settle = resolve;
    });
    try {
      const device = await this.#deviceForJoin();
      if (!device || generation !== this.#generation) return;
      const res = await this.signaling.request('prepare', {
        rtpCapabilities: device.recvRtpCapabilities as unknown as Record<string, unknown>,
      });
      if (generation !== this.#generation) return;
      this.#device = device;
      const info = res.transports.find((t) => t.direction === 'recv');
      if (!info || !res.warmup) return;
      const transport = await this.#createTransport('recv', generation, info);
      this.#recv = transport;
      // The data consumer gives the receive transport something to negotiate: ICE and DTLS start now.
      await transport.consumeData({
        id: res.warmup.id,
        dataProducerId: res.warmup.dataProducerId,
        sctpStreamParameters: res.warmup.sctpStreamParameters as ms.SctpStreamParameters,
        label: res.warmup.label,
        protocol: res.warmup.protocol,
      });
      // The room's tracks, paused on the edge until the join: negotiated now, so the join only resumes them.
      this.#preparedPeople = new Set(res.consumers.map((c) => c.identity)).size;
      const ordered = [...res.consumers].sort(
        (a, b) => Number(a.kind === 'audio') - Number(b.kind === 'audio'),
      );
      const made = await Promise.all(
        ordered.map((c) => {
          const consumer = this.#consumeOn(transport, c).catch(() => null);
          this.#preparedConsumers.set(c.consumerId, consumer);
          return consumer;
        }),
      );
      this.#preparedRoom = {
        participants: res.participants,
        tracks: ordered.flatMap((c, i) => {
          const consumer = made[i];
          if (!consumer) return [];
          const { producerId, identity, kind, source, producerPaused } = c;
          return [{ producerId, identity, kind, source, producerPaused, consumer, track: consumer.track }];
        }),
      };
      void this.#recvConnected().then(() => {
        if (transport.connectionState !== 'connected') return;
        performance.mark('meetview:prepared');
        this.emit('prepared');
      });
    } catch (error) {
      // Not fatal: the join makes whatever is missing.
      console.warn('prepare failed', error);
    } finally {
      if (generation === this.#generation) this.#prepared = true;
      settle();
    }
  }

  async #joinNow(generation: number): Promise<void> {
    let snap: ResponseData['join'];
    const first = this.#joins === 0;
    try {
      const lastMessageId = this.chat.lastMessageId;
      // With our capabilities in the join, a new session comes back with its transports and consumers made.
      // A loaded device is used without awaiting, so that the join leaves in the caller's task (the click's,
      // before the meeting view is built) rather than after it.
      const device = this.#device?.loaded ? this.#device : await this.#deviceForJoin();
      // With the prepared tracks' publishers and ourselves on the grid (a first join's prepared consumers).
      const spatialLayer =
        this.#cameraLayer && first && this.#preparedPeople > 0
          ? this.#cameraLayer(this.#preparedPeople + 1)
          : undefined;
      snap = await this.signaling.request('join', {
        chatBatches: true,
        ...(lastMessageId ? { lastMessageId } : {}),
        ...(spatialLayer !== undefined ? { spatialLayer } : {}),
        ...(device
          ? { rtpCapabilities: device.recvRtpCapabilities as unknown as Record<string, unknown> }
          : {}),
      });
      if (first) performance.mark('meetview:join-response');
    } catch (error) {
      this.#onJoinError(error);
      return;
    }
    if (generation !== this.#generation) return;
    // The join's chat and the notifications after it are one stream: take it in before anything awaits.
    this.chat.setSelf(snap.self.identity, snap.self.name);
    this.chat.applyJoin(snap.chat ?? []);
    try {
      // Resume only when the server kept exactly the transports we have; otherwise rebuild.
      const ours = [this.#send, this.#recv].filter((t) => t !== null).map((t) => t.id);
      const kept = new Set(snap.transports.map((t) => t.id));
      const canResume =
        snap.resumed &&
        this.#device !== null &&
        ours.length === kept.size &&
        ours.every((id) => kept.has(id));
      if (canResume) await this.#resume(snap, generation);
      else await this.#build(snap, generation);
      if (generation !== this.#generation || this.#state === 'closed') return;
      this.#resumed = canResume;
      this.#joins += 1;
      if (this.#joins === 1) performance.mark('meetview:joined');
      this.#setState('joined');
      this.emit('changed');
    } catch (error) {
      this.#onJoinError(error);
    }
  }

  /** A loaded device to announce with the join: ours, or the one preloaded with the edge's capabilities. */
  async #deviceForJoin(): Promise<Device | null> {
    if (this.#device?.loaded) return this.#device;
    if (!this.#nextDevice || !this.#nextDeviceCaps) return null;
    const device = await this.#nextDevice.catch(() => null);
    return device?.loaded ? device : null;
  }

  #onJoinError(error: unknown): void {
    if (this.#state === 'closed') return;
    // A dropped socket during join: the next open joins again.
    if (error instanceof RequestError && error.code === ClientErrorCode.Disconnected) return;
    const e =
      error instanceof RequestError
        ? { code: error.code, message: error.message }
        : { code: ErrorCode.Internal, message: String((error as Error)?.message ?? error) };
    console.error('join failed', error);
    this.#finish({ kind: 'refused', closeCode: 0, error: e });
  }

  #applySnapshot(snap: ResponseData['join']): void {
    this.#routerRtpCapabilities = snap.routerRtpCapabilities;
    this.#room = snap.room;
    this.#self = snap.self;
    this.#participants.clear();
    for (const p of snap.participants)
      if (p.identity !== snap.self.identity) this.#participants.set(p.identity, p);
  }

  /** A new session on the server (first join, or the old one expired): build every transport anew. */
  async #build(snap: ResponseData['join'], generation: number): Promise<void> {
    // A receive transport made by prepare() and adopted by the server with the join is kept as it is.
    const adopted =
      this.#recv && !this.#recv.closed && snap.transports.some((t) => t.id === this.#recv!.id)
        ? this.#recv
        : null;
    if (adopted) this.#recv = null;
    this.#joinedPrepared = adopted !== null;
    // Prepared consumers the join did not hand over (their track closed meanwhile) are of no use.
    const handedOver = new Set(adopted ? snap.consumers.map((c) => c.consumerId) : []);
    for (const [id, made] of this.#preparedConsumers)
      if (!handedOver.has(id)) {
        this.#preparedConsumers.delete(id);
        void made.then((c) => c?.close());
      }
    // Those shown at join() stay on screen: the adoption below takes them as they are.
    const shown = [...this.#remote.values()].filter((r) => r.consumer && handedOver.has(r.consumer.id));
    this.#closeTransports();
    for (const r of shown) this.#remote.set(r.producerId, r);
    this.#applySnapshot(snap);
    const pending = this.#nextDevice;
    const preloaded = this.#nextDeviceCaps;
    this.#nextDevice = null;
    this.#nextDeviceCaps = null;
    let device = await (pending ?? Device.factory()).catch(() => Device.factory());
    const caps = snap.routerRtpCapabilities as ms.RtpCapabilities;
    if (device.loaded && preloaded !== JSON.stringify(caps)) device = await Device.factory();
    if (!device.loaded) await device.load({ routerRtpCapabilities: caps });
    performance.mark('meetview:device-loaded');
    if (generation !== this.#generation) return;
    this.#device = device;
    const grants = snap.self.grants;
    const publish = grants.publish && !this.#publishDenied;
    if (!publish) this.#denyPublish('no publish grant');
    // Consuming starts as soon as the receive transport exists, so the first remote frame does not wait
    // for our own camera. Transports and consumers the server made with the join are used as they are;
    // the rest is asked for.
    const prepared = (direction: 'send' | 'recv') =>
      snap.transports.find((t) => t.direction === direction && t.dtlsParameters);
    const receiving = grants.subscribe
      ? (adopted
          ? Promise.resolve(adopted)
          : this.#createTransport('recv', generation, prepared('recv'))
        ).then(async (t) => {
          if (generation !== this.#generation) return t.close();
          this.#recv = t;
          this.emit('changed');
          await Promise.all([
            // Video first: mediasoup-client negotiates one consumer after another, and a picture is
            // what a person looks for first (audio follows a few ms later).
            ...[...snap.consumers]
              .sort((a, b) => Number(a.kind === 'audio') - Number(b.kind === 'audio'))
              .map((c) => this.#adoptConsumer(c, generation)),
            ...snap.tracks.map((tr) => this.#consume(tr, generation)),
          ]);
        })
      : Promise.resolve();
    // Receive first: while the receive transport connects and the first remote frames decode, our own
    // camera's encoder, its transceivers (addTransceiver blocks the main thread for tens of ms) and the
    // second ICE/DTLS handshake would compete for the same CPU. Publishing waits until the remote videos
    // have their first packets and a moment to show them, RECEIVE_FIRST_MS at most (and not at all when
    // there is nothing to receive).
    const receiveFirst =
      grants.subscribe && snap.tracks.some((t) => t.identity !== snap.self.identity)
        ? Promise.race([
            receiving.then(
              () => this.#firstRemoteVideo(),
              () => undefined,
            ),
            sleep(RECEIVE_FIRST_MS),
          ])
        : Promise.resolve();
    const sending = publish
      ? receiveFirst
          .then(() => this.#createTransport('send', generation, prepared('send')))
          .then(async (t) => {
            if (generation !== this.#generation) return t.close();
            this.#send = t;
            await Promise.all([
              this.#produce('microphone'),
              this.#produce('camera'),
              this.#produce('screen'),
            ]);
          })
      : Promise.resolve();
    await Promise.all([receiving, sending]);
    performance.mark('meetview:transports');
  }

  /**
   * Resolves once the receive transport is connected and every remote video has its first packets (its
   * track unmuted), plus FIRST_FRAME_SETTLE_MS for the decoder and the page to show the frame.
   */
  async #firstRemoteVideo(): Promise<void> {
    await this.#recvConnected();
    const muted: MediaStreamTrack[] = [];
    for (const r of this.#remote.values())
      if (r.kind === 'video' && !r.producerPaused && r.track?.muted) muted.push(r.track);
    await Promise.all(
      muted.map(
        (t) => new Promise<void>((resolve) => t.addEventListener('unmute', () => resolve(), { once: true })),
      ),
    );
    await sleep(FIRST_FRAME_SETTLE_MS);
  }

  /** Resolves when the receive transport is connected (or is gone). */
  #recvConnected(): Promise<void> {
    const t = this.#recv;
    if (!t || t.closed || t.connectionState === 'connected') return Promise.resolve();
    return new Promise((resolve) => {
      const check = (state: string) => {
        if (state === 'connected' || state === 'failed' || state === 'closed') {
          t.off('connectionstatechange', check);
          resolve();
        }
      };
      t.on('connectionstatechange', check);
    });
  }

  /** The server kept our session through a dropped socket: restart ICE, keep producers and consumers. */
  async #resume(snap: ResponseData['join'], generation: number): Promise<void> {
    this.#applySnapshot(snap);
    for (const transport of [this.#send, this.#recv]) {
      if (!transport || transport.closed) continue;
      const { iceParameters } = await this.signaling.request('transport.restartIce', {
        transportId: transport.id,
      });
      await transport.restartIce({ iceParameters: iceParameters as ms.IceParameters });
    }
    if (generation !== this.#generation) return;
    // Producers the server no longer has are produced again from the same tracks.
    const keptProducers = new Map(snap.producers.map((p) => [p.producerId, p]));
    const reproduce: LocalSource[] = [];
    for (const [source, producer] of this.#producers) {
      const kept = keptProducers.get(producer.id);
      if (!kept) {
        producer.close();
        this.#producers.delete(source);
        reproduce.push(source);
      } else if (kept.paused !== producer.paused) {
        this.#fireAndForget(producer.paused ? 'producer.pause' : 'producer.resume', {
          producerId: producer.id,
        });
      }
    }
    // Consumers: keep those the server kept, adopt those created while the socket was down, drop the rest.
    const keptConsumers = new Map(snap.consumers.map((c) => [c.consumerId, c]));
    const published = new Set(snap.tracks.map((t) => t.producerId));
    for (const r of [...this.#remote.values()]) {
      if (!published.has(r.producerId) || (r.consumer && !keptConsumers.has(r.consumer.id))) {
        this.#dropRemote(r.producerId);
      }
    }
    const adopt = snap.consumers.filter((c) => !this.#remote.get(c.producerId)?.consumer);
    await Promise.all([
      ...adopt.map((c) => this.#adoptConsumer(c, generation)),
      ...snap.tracks.map((t) => this.#consume(t, generation)),
      ...reproduce.map((s) => this.#produce(s)),
    ]);
  }

  async #createTransport(
    direction: 'send' | 'recv',
    generation: number,
    prepared?: TransportInfo,
  ): Promise<ms.Transport> {
    const info = prepared ?? (await this.signaling.request('transport.create', { direction }));
    const device = this.#device!;
    const options: ms.TransportOptions = {
      id: info.id,
      iceParameters: info.iceParameters as ms.IceParameters,
      iceCandidates: info.iceCandidates as ms.IceCandidate[],
      dtlsParameters: info.dtlsParameters as ms.DtlsParameters,
      ...(info.sctpParameters ? { sctpParameters: info.sctpParameters as ms.SctpParameters } : {}),
    };
    const transport =
      direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.signaling
        .request('transport.connect', { transportId: transport.id, dtlsParameters })
        .then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        this.signaling
          .request('produce', {
            transportId: transport.id,
            kind,
            rtpParameters,
            source: appData.source as TrackSource,
            paused: appData.paused === true,
          })
          .then(({ producerId }) => callback({ id: producerId }), errback);
      });
    }
    transport.on('connectionstatechange', (state) => {
      // ICE failed while signaling is fine (e.g. a network change): restart ICE on this transport alone.
      if (state === 'failed' && this.signaling.state === 'connected' && generation === this.#generation) {
        this.signaling
          .request('transport.restartIce', { transportId: transport.id })
          .then(({ iceParameters }) =>
            transport.restartIce({ iceParameters: iceParameters as ms.IceParameters }),
          )
          .catch((e) => console.warn('restartIce failed', e));
      }
    });
    return transport;
  }

  // ---- publishing ----

  async #capture(source: 'microphone' | 'camera'): Promise<MediaStreamTrack | null> {
    try {
      const deviceId = source === 'camera' ? this.#cameraDeviceId : this.#microphoneDeviceId;
      const constraints: MediaStreamConstraints =
        source === 'camera'
          ? { video: { ...CAMERA_CONSTRAINTS, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) } }
          : { audio: deviceId ? { deviceId: { exact: deviceId } } : true };
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      const track = (source === 'camera' ? stream.getVideoTracks() : stream.getAudioTracks())[0] ?? null;
      if (track) this.#localTracks.set(source, track);
      this.emit('changed');
      return track;
    } catch (error) {
      this.emit('notice', {
        code: source === 'camera' ? 'CAMERA_FAILED' : 'MICROPHONE_FAILED',
        message: String((error as Error).message ?? error),
      });
      return null;
    }
  }

  /** Produces the local track of `source` if there is one, a send transport, and no producer yet. */
  async #produce(source: LocalSource): Promise<void> {
    const track = this.#localTracks.get(source);
    const transport = this.#send;
    if (!track || !transport || transport.closed || this.#producers.has(source) || this.#publishDenied)
      return;
    const paused = source === 'microphone' && this.#micMuted;
    try {
      const producer = await transport.produce({
        track,
        stopTracks: false,
        ...(source === 'camera'
          ? { encodings: CAMERA_ENCODINGS, codecOptions: { videoGoogleStartBitrate: 1000 } }
          : source === 'screen'
            ? { encodings: [{ maxBitrate: 2_500_000 }] }
            : { codecOptions: { opusStereo: false, opusDtx: true, opusFec: true } }),
        appData: { source, paused },
      });
      // The track may have been switched off while the server answered.
      if (this.#localTracks.get(source) !== track || transport.closed) {
        producer.close();
        this.#fireAndForget('producer.close', { producerId: producer.id });
        return;
      }
      if (paused) producer.pause();
      this.#producers.set(source, producer);
      producer.on('trackended', () => {
        if (source === 'screen') this.stopScreenShare();
        else if (source === 'camera') void this.setCameraEnabled(false);
      });
      this.emit('changed');
    } catch (error) {
      if (error instanceof RequestError && error.code === ErrorCode.Forbidden) {
        this.#denyPublish(error.message);
        return;
      }
      if (error instanceof RequestError && error.code === ClientErrorCode.Disconnected) return;
      console.error(`produce ${source} failed`, error);
      this.emit('notice', { code: 'PRODUCE_FAILED', message: String((error as Error).message ?? error) });
    }
  }

  #denyPublish(message: string): void {
    if (this.#publishDenied) return;
    this.#publishDenied = true;
    // A viewer does not keep the camera and microphone open for nothing.
    for (const source of [...this.#localTracks.keys()]) this.#unpublish(source);
    this.emit('notice', { code: ErrorCode.Forbidden, message });
    this.emit('changed');
  }

  #unpublish(source: LocalSource): void {
    const producer = this.#producers.get(source);
    if (producer) {
      this.#producers.delete(source);
      producer.close();
      this.#fireAndForget('producer.close', { producerId: producer.id });
    }
    const track = this.#localTracks.get(source);
    this.#localTracks.delete(source);
    track?.stop();
  }

  // ---- subscribing ----

  async #consume(info: TrackInfo, generation: number): Promise<void> {
    const transport = this.#recv;
    if (!transport || transport.closed || !this.#device || info.identity === this.#self?.identity) return;
    if (this.#remote.has(info.producerId)) return;
    const entry: RemoteTrack = { ...info, producerPaused: info.paused, consumer: null, track: null };
    this.#remote.set(info.producerId, entry);
    this.emit('changed');
    try {
      const res = await this.signaling.request('consume', {
        producerId: info.producerId,
        rtpCapabilities: this.#device!.recvRtpCapabilities as unknown as Record<string, unknown>,
      });
      await this.#attachConsumer(entry, res, transport, generation);
    } catch (error) {
      if (this.#remote.get(info.producerId) === entry) this.#remote.delete(info.producerId);
      if (!(error instanceof RequestError && error.code === ClientErrorCode.Disconnected)) {
        console.warn(`consume ${info.producerId} failed`, error);
      }
      this.emit('changed');
    }
  }

  async #adoptConsumer(res: ConsumeResult, generation: number): Promise<void> {
    const transport = this.#recv;
    if (!transport || transport.closed) return;
    const shown = this.#remote.get(res.producerId);
    if (shown?.consumer?.id === res.consumerId && !shown.consumer.closed) {
      // Shown at join() on its prepared consumer, which the edge has resumed.
      this.#preparedConsumers.delete(res.consumerId);
      this.#preparedConsumersUsed += 1;
      shown.producerPaused = res.producerPaused;
      this.emit('changed');
      return;
    }
    const entry: RemoteTrack = {
      producerId: res.producerId,
      identity: res.identity,
      kind: res.kind,
      source: res.source,
      producerPaused: res.producerPaused,
      consumer: null,
      track: null,
    };
    this.#remote.set(res.producerId, entry);
    await this.#attachConsumer(entry, res, transport, generation).catch((e) =>
      console.warn('adopting consumer failed', e),
    );
  }

  async #attachConsumer(
    entry: RemoteTrack,
    res: ConsumeResult,
    transport: ms.Transport,
    generation: number,
  ): Promise<void> {
    // Negotiated before the join (prepare) when it was made then; the edge resumed it with the join.
    const prepared = this.#preparedConsumers.get(res.consumerId);
    this.#preparedConsumers.delete(res.consumerId);
    const early = prepared ? await prepared : null;
    const consumer = early && !early.closed ? early : await this.#consumeOn(transport, res);
    if (consumer === early) this.#preparedConsumersUsed += 1;
    // Unpublished, or a rebuild started, while we waited.
    if (this.#remote.get(res.producerId) !== entry || generation !== this.#generation || transport.closed) {
      consumer.close();
      return;
    }
    entry.consumer = consumer;
    entry.track = consumer.track;
    entry.producerPaused = res.producerPaused;
    this.emit('changed');
    if (res.paused) await this.signaling.request('consumer.resume', { consumerId: consumer.id });
  }

  #consumeOn(transport: ms.Transport, res: ConsumeResult): Promise<ms.Consumer> {
    return transport.consume({
      id: res.consumerId,
      producerId: res.producerId,
      kind: res.kind,
      rtpParameters: res.rtpParameters as ms.RtpParameters,
      // One stream per participant keeps audio and video of a person in sync.
      streamId: `${res.identity}-${res.source === 'screen' || res.source === 'screen-audio' ? 'screen' : 'cam'}`,
    });
  }

  #dropRemote(producerId: string): void {
    const r = this.#remote.get(producerId);
    if (!r) return;
    this.#remote.delete(producerId);
    if (r.consumer) this.#preferredLayers.delete(r.consumer.id);
    r.consumer?.close();
  }

  #setProducerPaused(producerId: string, paused: boolean): void {
    const r = this.#remote.get(producerId);
    if (!r || r.producerPaused === paused) return;
    r.producerPaused = paused;
    this.emit('changed');
  }

  #setActiveSpeaker(identity: string | null): void {
    if (this.#activeSpeaker === identity) return;
    this.#activeSpeaker = identity;
    this.emit('activeSpeaker', identity);
  }

  // ---- lifecycle ----

  #fireAndForget(
    method: 'producer.pause' | 'producer.resume' | 'producer.close',
    data: { producerId: string },
  ): void {
    if (this.signaling.state !== 'connected') return; // a resume re-syncs pause state
    this.signaling.request(method, data).catch((e) => console.warn(`${method} failed`, e));
  }

  #closeTransports(): void {
    // Closing a transport closes its producers and consumers; local tracks are kept for a rebuild.
    this.#send?.close();
    this.#recv?.close();
    this.#send = null;
    this.#recv = null;
    this.#producers.clear();
    this.#remote.clear();
    this.#preferredLayers.clear();
  }

  #finish(info: CloseInfo): void {
    if (this.#closeInfo) return;
    this.#generation++;
    this.#closeInfo = info;
    // Unsubscribe first: closing the client emits its own 'closed', which must not finish us twice.
    for (const off of this.#unsubscribe.splice(0)) off();
    this.signaling.close();
    this.chat.close();
    this.#closeTransports();
    for (const track of this.#localTracks.values()) track.stop();
    this.#localTracks.clear();
    this.#participants.clear();
    this.#setState('closed');
    this.emit('closed', info);
    this.emit('changed');
  }

  #setState(state: SessionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }
}
