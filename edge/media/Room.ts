import type { types } from 'mediasoup';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { MediaError, type MediaErrorCode } from './MediaError';
import type { MediaWorker } from './MediaWorker';

/** Receive buffer asked for each pipe transport's UDP socket. */
const PIPE_RECV_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * Key frame requests to a video source (a browser, or RTP from outside) are spaced this far apart:
 * mediasoup coalesces those that come sooner and sends one when the time is up. Chrome ignores a request
 * within 300 ms of its last key frame, and mediasoup asks again only after 1 s, so a viewer who joined
 * just after another (or whose first key frame was unusable) waited ~1 s for its picture; spaced past the
 * 300 ms, the next request is served. Piped producers are not spaced: their requests go to the owner edge,
 * whose producer spaces them.
 */
export const KEY_FRAME_REQUEST_DELAY_MS = 400;

export type RoomCloseReason = 'closed' | 'workerdied' | 'workerclosed' | 'poolclosed';

export type MediaKind = types.MediaKind;

/** What the signaling layer sends the client so it can create its side of a WebRTC transport. */
export type WebRtcTransportInfo = {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
  /** Present when the transport was created with SCTP (data channels). */
  sctpParameters?: types.SctpParameters;
};

/** A data consumer of the room's warm-up channel (see Room.consumeWarmup()). */
export type DataConsumerInfo = {
  id: string;
  dataProducerId: string;
  sctpStreamParameters: types.SctpStreamParameters;
  label: string;
  protocol: string;
};

export type PlainTransportInfo = {
  id: string;
  /** Where the transport listens: send RTP here (comedia) or expect RTP from here. */
  ip: string;
  port: number;
};

/** One side of a pipe between two edges' routers (cascade): where it listens and its SRTP keys. */
export type PipeTransportInfo = {
  id: string;
  ip: string;
  port: number;
  /** Set when the pipe was created with SRTP (a pipe that leaves the region). */
  srtpParameters: types.SrtpParameters | undefined;
};

export type ProducerInfo = {
  id: string;
  peerId: string;
  transportId: string;
  kind: MediaKind;
  type: types.ProducerType;
  paused: boolean;
  appData: types.AppData;
};

/** What the signaling layer sends the client so it can create its consumer. */
export type ConsumerInfo = {
  id: string;
  producerId: string;
  peerId: string;
  kind: MediaKind;
  type: types.ConsumerType;
  rtpParameters: types.RtpParameters;
  producerPaused: boolean;
};

export type AudioLevel = { producerId: string; peerId: string; volume: number };

export type ConsumerCloseReason = 'producerclose' | 'transportclose' | 'closed';

export type RoomEvents = {
  /** Fired once; every transport, producer and consumer of the room is gone. */
  close: [RoomCloseReason];
  /** The worker under the room died: the room is closed (a `close('workerdied')` follows). */
  workerdied: [Error];
  newproducer: [ProducerInfo];
  producerclose: [{ producerId: string; peerId: string }];
  producerpause: [{ producerId: string; peerId: string }];
  producerresume: [{ producerId: string; peerId: string }];
  /** A consumer went away without its owner asking (its producer or transport closed). */
  consumerclose: [{ consumerId: string; producerId: string; peerId: string; reason: ConsumerCloseReason }];
  consumerproducerpause: [{ consumerId: string; peerId: string }];
  consumerproducerresume: [{ consumerId: string; peerId: string }];
  consumerlayerschange: [{ consumerId: string; peerId: string; layers: types.ConsumerLayers | undefined }];
  consumerscore: [{ consumerId: string; peerId: string; score: types.ConsumerScore }];
  /** A video consumer was sent a key frame (its viewer can decode from here). */
  consumerkeyframe: [{ consumerId: string; peerId: string }];
  /** Loudest audio producers (dBov, -127..0), every observer interval while someone speaks. */
  audiolevels: [AudioLevel[]];
  silence: [];
  activespeaker: [{ producerId: string; peerId: string }];
};

type TransportEntry = {
  transport: types.WebRtcTransport | types.PlainTransport | types.PipeTransport;
  peerId: string;
};
type ProducerEntry = { producer: types.Producer; peerId: string; transportId: string };
type ConsumerEntry = { consumer: types.Consumer; peerId: string; transportId: string };

export type RoomInit = {
  id: string;
  appData: types.AppData;
  mediaWorker: MediaWorker;
  router: types.Router;
  audioLevelObserver: types.AudioLevelObserver;
  activeSpeakerObserver: types.ActiveSpeakerObserver;
  /** The pool's hook to forget the room once it is closed. */
  onClose: (room: Room) => void;
};

/**
 * A conference room's media: one mediasoup Router on one worker, plus an audio-level and an
 * active-speaker observer. It owns every transport, producer and consumer created through it, keyed
 * by id and tagged with the peer that asked for it; closing the room closes the router and so all of
 * them. Every method throws MediaError, never a raw mediasoup error. Created by WorkerPool.createRoom().
 */
export class Room extends TypedEmitter<RoomEvents> {
  readonly id: string;
  readonly appData: types.AppData;
  readonly #mediaWorker: MediaWorker;
  readonly #router: types.Router;
  readonly #audioLevelObserver: types.AudioLevelObserver;
  readonly #activeSpeakerObserver: types.ActiveSpeakerObserver;
  readonly #onClose: (room: Room) => void;
  readonly #transports = new Map<string, TransportEntry>();
  readonly #producers = new Map<string, ProducerEntry>();
  readonly #consumers = new Map<string, ConsumerEntry>();
  /** The warm-up channel's data producer, made on first use (closed with the router). */
  #warmup: Promise<types.DataProducer> | undefined;
  #closed = false;
  #closeReason: RoomCloseReason | undefined;

  constructor(init: RoomInit) {
    super();
    this.id = init.id;
    this.appData = init.appData;
    this.#mediaWorker = init.mediaWorker;
    this.#router = init.router;
    this.#audioLevelObserver = init.audioLevelObserver;
    this.#activeSpeakerObserver = init.activeSpeakerObserver;
    this.#onClose = init.onClose;

    // A worker that dies is reported by the pool (workerDied()), which knows the error; an orderly
    // worker close (pool shutdown) closes the room here.
    this.#router.on('workerclose', () => {
      if (!this.#mediaWorker.worker.died) this.#finish('workerclosed');
    });

    this.#audioLevelObserver.on('volumes', (volumes) => {
      this.safeEmit(
        'audiolevels',
        volumes.map(({ producer, volume }) => ({
          producerId: producer.id,
          peerId: this.#producers.get(producer.id)?.peerId ?? '',
          volume,
        })),
      );
    });
    this.#audioLevelObserver.on('silence', () => this.safeEmit('silence'));
    this.#activeSpeakerObserver.on('dominantspeaker', ({ producer }) => {
      this.safeEmit('activespeaker', {
        producerId: producer.id,
        peerId: this.#producers.get(producer.id)?.peerId ?? '',
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the room closed, once it has. */
  get closeReason(): RoomCloseReason | undefined {
    return this.#closeReason;
  }

  /** The router's RTP capabilities: what the client's mediasoup-client Device loads. */
  get rtpCapabilities(): types.RtpCapabilities {
    return this.#router.rtpCapabilities;
  }

  get routerId(): string {
    return this.#router.id;
  }

  /** Pool slot of the worker the room runs on. */
  get workerIndex(): number {
    return this.#mediaWorker.index;
  }

  get workerPid(): number {
    return this.#mediaWorker.pid;
  }

  get transportCount(): number {
    return this.#transports.size;
  }

  /** The room's producers, e.g. for the snapshot a joining peer receives. */
  producers(): ProducerInfo[] {
    return [...this.#producers.entries()].map(([id, e]) => this.#producerInfo(id, e));
  }

  /** A WebRTC transport through the worker's WebRtcServer (its one UDP and one TCP port). */
  async createWebRtcTransport(options: {
    peerId: string;
    enableUdp?: boolean;
    enableTcp?: boolean;
    preferUdp?: boolean;
    initialAvailableOutgoingBitrate?: number;
    /** SCTP for data channels (the warm-up channel of a transport made before the join). */
    enableSctp?: boolean;
    appData?: types.AppData;
  }): Promise<WebRtcTransportInfo> {
    requireString(options?.peerId, 'peerId');
    const transport = await this.#guard('BAD_PARAMETERS', 'createWebRtcTransport', () =>
      this.#router.createWebRtcTransport({
        webRtcServer: this.#mediaWorker.webRtcServer,
        enableUdp: options.enableUdp ?? true,
        enableTcp: options.enableTcp ?? true,
        preferUdp: options.preferUdp ?? true,
        initialAvailableOutgoingBitrate: options.initialAvailableOutgoingBitrate ?? 1_000_000,
        enableSctp: options.enableSctp ?? false,
        appData: { ...options.appData, peerId: options.peerId },
      }),
    );
    this.#addTransport(transport, options.peerId);
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      ...(transport.sctpParameters ? { sctpParameters: transport.sctpParameters } : {}),
    };
  }

  /**
   * A data consumer, on a WebRTC transport made with SCTP, of the room's warm-up channel: a data producer
   * on a direct transport that sends nothing. Consuming it gives the browser's receive transport something
   * to negotiate, so ICE and DTLS complete before any media track is consumed on it.
   */
  async consumeWarmup(transportId: string): Promise<DataConsumerInfo> {
    const transport = this.#webRtcTransport(transportId);
    if (!this.#warmup) {
      this.#warmup = this.#guard('BAD_PARAMETERS', 'createDirectTransport', async () => {
        const direct = await this.#router.createDirectTransport();
        return direct.produceData({ label: 'meetview-warmup' });
      });
      this.#warmup.catch(() => {
        this.#warmup = undefined;
      });
    }
    const producer = await this.#warmup;
    const consumer = await this.#guard('BAD_PARAMETERS', 'consumeData', () =>
      transport.consumeData({ dataProducerId: producer.id }),
    );
    return {
      id: consumer.id,
      dataProducerId: producer.id,
      sctpStreamParameters: consumer.sctpStreamParameters!,
      label: consumer.label,
      protocol: consumer.protocol,
    };
  }

  async connectWebRtcTransport(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    const transport = this.#webRtcTransport(transportId);
    await this.#guard('BAD_PARAMETERS', 'connectWebRtcTransport', () =>
      transport.connect({ dtlsParameters }),
    );
  }

  async restartIce(transportId: string): Promise<types.IceParameters> {
    const transport = this.#webRtcTransport(transportId);
    return this.#guard('BAD_PARAMETERS', 'restartIce', () => transport.restartIce());
  }

  /**
   * A plain RTP transport (no ICE/DTLS), RTCP multiplexed. With comedia it learns the remote address
   * from the first packet it receives (an injector); otherwise connectPlainTransport() tells it where to
   * send (a sink). Used by PlainRtpEndpoint.
   */
  async createPlainTransport(options: {
    peerId: string;
    comedia?: boolean;
    appData?: types.AppData;
  }): Promise<PlainTransportInfo> {
    requireString(options?.peerId, 'peerId');
    const transport = await this.#guard('BAD_PARAMETERS', 'createPlainTransport', () =>
      this.#router.createPlainTransport({
        listenInfo: this.#udpListenInfo(),
        rtcpMux: true,
        comedia: options.comedia ?? false,
        appData: { ...options.appData, peerId: options.peerId },
      }),
    );
    this.#addTransport(transport, options.peerId);
    return {
      id: transport.id,
      ip: transport.tuple.localAddress ?? transport.tuple.localIp,
      port: transport.tuple.localPort,
    };
  }

  async connectPlainTransport(transportId: string, remote: { ip: string; port: number }): Promise<void> {
    const entry = this.#transport(transportId);
    if (entry.transport.type !== 'plain')
      throw new MediaError('BAD_PARAMETERS', `transport ${transportId} is not a plain transport`);
    const transport = entry.transport as types.PlainTransport;
    await this.#guard('BAD_PARAMETERS', 'connectPlainTransport', () =>
      transport.connect({ ip: remote.ip, port: remote.port }),
    );
  }

  /** Closes a transport and every producer and consumer on it. */
  closeTransport(transportId: string): void {
    this.#transport(transportId).transport.close();
  }

  /** Closes every transport of a peer (the peer left or its socket dropped for good). */
  closePeer(peerId: string): void {
    for (const { transport, peerId: owner } of [...this.#transports.values()])
      if (owner === peerId) transport.close();
  }

  async produce(options: {
    transportId: string;
    kind: MediaKind;
    rtpParameters: types.RtpParameters;
    paused?: boolean;
    appData?: types.AppData;
    /** A piped producer keeps the id it has on the edge that owns it (cascade). */
    id?: string;
  }): Promise<ProducerInfo> {
    this.#assertOpen();
    if (options?.kind !== 'audio' && options?.kind !== 'video')
      throw new MediaError(
        'BAD_PARAMETERS',
        `kind must be "audio" or "video", got ${JSON.stringify(options?.kind)}`,
      );
    const entry = this.#transport(options.transportId);
    this.#checkCodecs(options.kind, options.rtpParameters);
    const producer = await this.#guard('BAD_RTP_PARAMETERS', 'produce', () =>
      entry.transport.produce({
        ...(options.id ? { id: options.id } : {}),
        kind: options.kind,
        rtpParameters: options.rtpParameters,
        paused: options.paused ?? false,
        ...(options.kind === 'video' && entry.transport.type !== 'pipe'
          ? { keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS }
          : {}),
        appData: { ...options.appData, peerId: entry.peerId },
      }),
    );
    const producerEntry: ProducerEntry = { producer, peerId: entry.peerId, transportId: options.transportId };
    this.#producers.set(producer.id, producerEntry);
    producer.observer.once('close', () => {
      this.#producers.delete(producer.id);
      if (!this.#quiet()) this.safeEmit('producerclose', { producerId: producer.id, peerId: entry.peerId });
    });
    if (producer.kind === 'audio') {
      // Observers are best effort: a failure here must not fail the produce.
      await Promise.allSettled([
        this.#audioLevelObserver.addProducer({ producerId: producer.id }),
        this.#activeSpeakerObserver.addProducer({ producerId: producer.id }),
      ]);
    }
    const info = this.#producerInfo(producer.id, producerEntry);
    this.safeEmit('newproducer', info);
    return info;
  }

  async pauseProducer(producerId: string): Promise<void> {
    const { producer, peerId } = this.#producer(producerId);
    await this.#guard('BAD_PARAMETERS', 'pauseProducer', () => producer.pause());
    this.safeEmit('producerpause', { producerId, peerId });
  }

  async resumeProducer(producerId: string): Promise<void> {
    const { producer, peerId } = this.#producer(producerId);
    await this.#guard('BAD_PARAMETERS', 'resumeProducer', () => producer.resume());
    this.safeEmit('producerresume', { producerId, peerId });
  }

  /** Closes a producer; its consumers close too (each gets a consumerclose 'producerclose'). */
  closeProducer(producerId: string): void {
    this.#producer(producerId).producer.close();
  }

  /**
   * Creates a consumer, paused as mediasoup recommends: the client creates its side, then the signaling
   * layer calls resumeConsumer() (which also asks the producer for a key frame). `paused: false` is for a
   * transport that is not connected yet: nothing flows before the client connects it, and mediasoup asks
   * for a key frame when it does.
   */
  async consume(options: {
    transportId: string;
    producerId: string;
    rtpCapabilities: types.RtpCapabilities;
    paused?: boolean;
    preferredLayers?: types.ConsumerLayers;
    appData?: types.AppData;
  }): Promise<ConsumerInfo> {
    this.#assertOpen();
    const entry = this.#transport(options?.transportId);
    const { producer } = this.#producer(options.producerId);
    const caps = options.rtpCapabilities as unknown;
    // mediasoup's canConsume() answers false to malformed capabilities; tell the caller which it is.
    if (!caps || typeof caps !== 'object' || !Array.isArray((caps as types.RtpCapabilities).codecs))
      throw new MediaError('BAD_RTP_CAPABILITIES', 'rtpCapabilities must be an object with a codecs array');
    let canConsume: boolean;
    try {
      canConsume = this.#router.canConsume({
        producerId: producer.id,
        rtpCapabilities: options.rtpCapabilities,
      });
    } catch (error) {
      throw MediaError.from(error, 'BAD_RTP_CAPABILITIES', 'consume');
    }
    if (!canConsume)
      throw new MediaError(
        'CANNOT_CONSUME',
        `the given RTP capabilities cannot receive producer ${producer.id} (${producer.rtpParameters.codecs[0]?.mimeType})`,
      );
    const consumer = await this.#guard('BAD_RTP_CAPABILITIES', 'consume', () =>
      entry.transport.consume({
        producerId: producer.id,
        rtpCapabilities: options.rtpCapabilities,
        paused: options.paused ?? true,
        ...(options.preferredLayers ? { preferredLayers: options.preferredLayers } : {}),
        appData: { ...options.appData, peerId: entry.peerId },
      }),
    );
    this.#addConsumer(consumer, entry.peerId, options.transportId);
    return {
      id: consumer.id,
      producerId: producer.id,
      peerId: entry.peerId,
      kind: consumer.kind,
      type: consumer.type,
      rtpParameters: consumer.rtpParameters,
      producerPaused: consumer.producerPaused,
    };
  }

  async resumeConsumer(consumerId: string): Promise<void> {
    const { consumer } = this.#consumer(consumerId);
    await this.#guard('BAD_PARAMETERS', 'resumeConsumer', () => consumer.resume());
  }

  async pauseConsumer(consumerId: string): Promise<void> {
    const { consumer } = this.#consumer(consumerId);
    await this.#guard('BAD_PARAMETERS', 'pauseConsumer', () => consumer.pause());
  }

  closeConsumer(consumerId: string): void {
    this.#consumer(consumerId).consumer.close();
  }

  /** Simulcast/SVC: the spatial (and temporal) layer this consumer should receive at most. */
  async setPreferredLayers(consumerId: string, layers: types.ConsumerLayers): Promise<void> {
    const { consumer } = this.#consumer(consumerId);
    if (!Number.isInteger(layers?.spatialLayer) || layers.spatialLayer < 0)
      throw new MediaError('BAD_PARAMETERS', 'spatialLayer must be a non-negative integer');
    await this.#guard('BAD_PARAMETERS', 'setPreferredLayers', () => consumer.setPreferredLayers(layers));
  }

  async requestKeyFrame(consumerId: string): Promise<void> {
    const { consumer } = this.#consumer(consumerId);
    await this.#guard('BAD_PARAMETERS', 'requestKeyFrame', () => consumer.requestKeyFrame());
  }

  async getProducerStats(producerId: string): Promise<types.ProducerStat[]> {
    const { producer } = this.#producer(producerId);
    return this.#guard('BAD_PARAMETERS', 'getProducerStats', () => producer.getStats());
  }

  async getConsumerStats(consumerId: string): Promise<(types.ConsumerStat | types.ProducerStat)[]> {
    const { consumer } = this.#consumer(consumerId);
    return this.#guard('BAD_PARAMETERS', 'getConsumerStats', () => consumer.getStats());
  }

  /** One producer of the room, or undefined when it is not (or no longer) here. */
  getProducer(producerId: string): ProducerInfo | undefined {
    const entry = this.#closed ? undefined : this.#producers.get(producerId);
    return entry ? this.#producerInfo(producerId, entry) : undefined;
  }

  /**
   * A PipeTransport towards another edge's router (cascade). RTX is on so that NACK retransmissions
   * cross the pipe; SRTP when the pipe leaves the region. connectPipeTransport() gives it the far end.
   */
  async createPipeTransport(options: {
    peerId: string;
    enableSrtp?: boolean;
    appData?: types.AppData;
  }): Promise<PipeTransportInfo> {
    requireString(options?.peerId, 'peerId');
    const transport = await this.#guard('BAD_PARAMETERS', 'createPipeTransport', () =>
      this.#router.createPipeTransport({
        listenInfo: {
          ...this.#udpListenInfo(),
          // One pipe carries every track of a room from one edge: a deeper socket buffer rides out a
          // worker that is descheduled for a moment (the kernel caps it at net.core.rmem_max).
          recvBufferSize: PIPE_RECV_BUFFER_BYTES,
        },
        enableRtx: true,
        enableSrtp: options.enableSrtp ?? false,
        appData: { ...options.appData, peerId: options.peerId },
      }),
    );
    this.#addTransport(transport, options.peerId);
    return {
      id: transport.id,
      ip: transport.tuple.localAddress ?? transport.tuple.localIp,
      port: transport.tuple.localPort,
      srtpParameters: transport.srtpParameters,
    };
  }

  async connectPipeTransport(
    transportId: string,
    remote: { ip: string; port: number; srtpParameters?: types.SrtpParameters },
  ): Promise<void> {
    const transport = this.#pipeTransport(transportId);
    await this.#guard('BAD_PARAMETERS', 'connectPipeTransport', () =>
      transport.connect({
        ip: remote.ip,
        port: remote.port,
        ...(remote.srtpParameters ? { srtpParameters: remote.srtpParameters } : {}),
      }),
    );
  }

  /**
   * Sends a producer into a pipe transport: a 'pipe' consumer, which forwards every stream (all simulcast
   * layers) as it comes, and is never paused by itself. Its rtpParameters are what the far side produces.
   */
  async consumeIntoPipe(options: {
    transportId: string;
    producerId: string;
    appData?: types.AppData;
  }): Promise<ConsumerInfo> {
    const transport = this.#pipeTransport(options?.transportId);
    const peerId = this.#transport(options.transportId).peerId;
    const { producer } = this.#producer(options.producerId);
    const consumer = await this.#guard('BAD_PARAMETERS', 'consumeIntoPipe', () =>
      transport.consume({ producerId: producer.id, appData: { ...options.appData, peerId } }),
    );
    this.#addConsumer(consumer, peerId, options.transportId);
    return {
      id: consumer.id,
      producerId: producer.id,
      peerId,
      kind: consumer.kind,
      type: consumer.type,
      rtpParameters: consumer.rtpParameters,
      producerPaused: consumer.producerPaused,
    };
  }

  /** Transport counters (bytes and packets in and out), e.g. of a pipe, for tests and benchmarks. */
  async getTransportStats(
    transportId: string,
  ): Promise<(types.WebRtcTransportStat | types.PlainTransportStat | types.PipeTransportStat)[]> {
    const { transport } = this.#transport(transportId);
    return this.#guard(
      'BAD_PARAMETERS',
      'getTransportStats',
      (): Promise<(types.WebRtcTransportStat | types.PlainTransportStat | types.PipeTransportStat)[]> =>
        transport.getStats(),
    );
  }

  /** The router's dump (transport ids, producer→consumer maps), for diagnostics and tests. */
  async dump(): Promise<types.RouterDump> {
    this.#assertOpen();
    return this.#guard('INTERNAL', 'dump', () => this.#router.dump());
  }

  /** Closes the router and so every transport, producer, consumer and observer of the room. */
  close(): void {
    this.#finish('closed');
  }

  /** Called by the pool when the worker under the room died (the router is already gone). */
  workerDied(error: Error): void {
    if (this.#closed) return;
    this.safeEmit('workerdied', error);
    this.#finish('workerdied');
  }

  /** Called by the pool when it shuts down. */
  poolClosed(): void {
    this.#finish('poolclosed');
  }

  #finish(reason: RoomCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    // Closing the router closes every transport, producer, consumer and observer under it.
    this.#router.close();
    this.#transports.clear();
    this.#producers.clear();
    this.#consumers.clear();
    this.#onClose(this);
    this.safeEmit('close', reason);
  }

  /**
   * While the room (or its router, when the worker goes) is closing, the per-entity close events are
   * not news: the owner gets one 'close' (and 'workerdied') instead.
   */
  #quiet(): boolean {
    return this.#closed || this.#router.closed;
  }

  #addTransport(
    transport: types.WebRtcTransport | types.PlainTransport | types.PipeTransport,
    peerId: string,
  ): void {
    this.#transports.set(transport.id, { transport, peerId });
    // The union of two observer types is not callable as such; both are TransportObservers.
    (transport.observer as types.TransportObserver).once('close', () =>
      this.#transports.delete(transport.id),
    );
  }

  #addConsumer(consumer: types.Consumer, peerId: string, transportId: string): void {
    const consumerId = consumer.id;
    if (consumer.kind === 'video') {
      void consumer.enableTraceEvent(['keyframe']).catch(() => undefined);
      consumer.on('trace', (trace) => {
        if (trace.type === 'keyframe' && trace.direction === 'out')
          this.safeEmit('consumerkeyframe', { consumerId, peerId });
      });
    }
    const producerId = consumer.producerId;
    this.#consumers.set(consumerId, { consumer, peerId, transportId });
    let reason: ConsumerCloseReason = 'closed';
    consumer.on('producerclose', () => {
      reason = 'producerclose';
    });
    consumer.on('transportclose', () => {
      reason = 'transportclose';
    });
    consumer.observer.once('close', () => {
      this.#consumers.delete(consumerId);
      // Only closes the owner did not ask for are news to the signaling layer.
      if (!this.#quiet() && reason !== 'closed')
        this.safeEmit('consumerclose', { consumerId, producerId, peerId, reason });
    });
    consumer.on('producerpause', () => this.safeEmit('consumerproducerpause', { consumerId, peerId }));
    consumer.on('producerresume', () => this.safeEmit('consumerproducerresume', { consumerId, peerId }));
    consumer.on('layerschange', (layers) =>
      this.safeEmit('consumerlayerschange', { consumerId, peerId, layers }),
    );
    consumer.on('score', (score) => this.safeEmit('consumerscore', { consumerId, peerId, score }));
  }

  #producerInfo(id: string, e: ProducerEntry): ProducerInfo {
    return {
      id,
      peerId: e.peerId,
      transportId: e.transportId,
      kind: e.producer.kind,
      type: e.producer.type,
      paused: e.producer.paused,
      appData: e.producer.appData,
    };
  }

  /** Rejects codecs the router does not offer with UNKNOWN_CODEC before mediasoup sees them. */
  #checkCodecs(kind: MediaKind, rtpParameters: types.RtpParameters): void {
    if (!rtpParameters || typeof rtpParameters !== 'object' || !Array.isArray(rtpParameters.codecs))
      throw new MediaError('BAD_RTP_PARAMETERS', 'rtpParameters.codecs must be an array');
    if (rtpParameters.codecs.length === 0)
      throw new MediaError('BAD_RTP_PARAMETERS', 'rtpParameters.codecs is empty');
    for (const codec of rtpParameters.codecs) {
      const mimeType = typeof codec?.mimeType === 'string' ? codec.mimeType.toLowerCase() : '';
      if (!mimeType.includes('/'))
        throw new MediaError(
          'BAD_RTP_PARAMETERS',
          `invalid codec mimeType ${JSON.stringify(codec?.mimeType)}`,
        );
      const [codecKind, name] = mimeType.split('/');
      // RTX, FEC and comfort-noise entries ride along with the media codec.
      if (
        name === 'rtx' ||
        name === 'red' ||
        name === 'ulpfec' ||
        name === 'cn' ||
        name === 'telephone-event'
      )
        continue;
      if (codecKind !== kind)
        throw new MediaError('BAD_RTP_PARAMETERS', `codec ${codec.mimeType} does not match kind "${kind}"`);
      const offered = this.#router.rtpCapabilities.codecs?.some(
        (c) => c.mimeType.toLowerCase() === mimeType && c.clockRate === codec.clockRate,
      );
      if (!offered)
        throw new MediaError(
          'UNKNOWN_CODEC',
          `codec ${codec.mimeType}/${codec.clockRate} is not offered by this room (${this.#offeredCodecs()})`,
        );
    }
  }

  #offeredCodecs(): string {
    const names = new Set(
      (this.#router.rtpCapabilities.codecs ?? [])
        .filter((c) => !c.mimeType.toLowerCase().endsWith('/rtx'))
        .map((c) => c.mimeType),
    );
    return [...names].join(', ');
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new MediaError(
        this.#closeReason === 'workerdied' ? 'WORKER_DIED' : 'ROOM_CLOSED',
        `room ${this.id} is closed (${this.#closeReason})`,
      );
  }

  #transport(transportId: string): TransportEntry {
    this.#assertOpen();
    const entry = typeof transportId === 'string' ? this.#transports.get(transportId) : undefined;
    if (!entry) throw new MediaError('TRANSPORT_NOT_FOUND', `no transport ${transportId} in room ${this.id}`);
    return entry;
  }

  #webRtcTransport(transportId: string): types.WebRtcTransport {
    const { transport } = this.#transport(transportId);
    if (transport.type !== 'webrtc')
      throw new MediaError('BAD_PARAMETERS', `transport ${transportId} is not a WebRTC transport`);
    return transport as types.WebRtcTransport;
  }

  #pipeTransport(transportId: string): types.PipeTransport {
    const { transport } = this.#transport(transportId);
    if (transport.type !== 'pipe')
      throw new MediaError('BAD_PARAMETERS', `transport ${transportId} is not a pipe transport`);
    return transport as types.PipeTransport;
  }

  #producer(producerId: string): ProducerEntry {
    this.#assertOpen();
    const entry = typeof producerId === 'string' ? this.#producers.get(producerId) : undefined;
    if (!entry)
      throw new MediaError(
        'PRODUCER_NOT_FOUND',
        `no producer ${producerId} in room ${this.id} (closed or never existed)`,
      );
    return entry;
  }

  #consumer(consumerId: string): ConsumerEntry {
    this.#assertOpen();
    const entry = typeof consumerId === 'string' ? this.#consumers.get(consumerId) : undefined;
    if (!entry) throw new MediaError('CONSUMER_NOT_FOUND', `no consumer ${consumerId} in room ${this.id}`);
    return entry;
  }

  /** Runs a mediasoup call and turns whatever it throws into a MediaError. */
  /** A UDP socket on the worker's address and port range (plain and pipe transports). */
  #udpListenInfo(): types.TransportListenInfo {
    const { listenIp, announcedAddress, rtcPortRange } = this.#mediaWorker.settings;
    return {
      protocol: 'udp',
      ip: listenIp,
      portRange: rtcPortRange,
      ...(announcedAddress ? { announcedAddress } : {}),
    };
  }

  async #guard<T>(fallback: MediaErrorCode, what: string, fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await fn();
    } catch (error) {
      if (this.#closed)
        throw new MediaError(
          this.#closeReason === 'workerdied' ? 'WORKER_DIED' : 'ROOM_CLOSED',
          `${what}: room ${this.id} closed meanwhile`,
          { cause: error },
        );
      throw MediaError.from(error, fallback, what);
    }
  }
}

function requireString(value: unknown, name: string): void {
  if (typeof value !== 'string' || value.length === 0)
    throw new MediaError('BAD_PARAMETERS', `${name} must be a non-empty string`);
}
