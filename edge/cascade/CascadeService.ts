import { randomUUID } from 'node:crypto';
import {
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { types } from 'mediasoup';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { CALLER_HEADER } from '../../lib/grpc/internalAuth';
import {
  type CascadeServiceServer,
  CascadeServiceService,
  type NodeRef,
  type WatchRequest,
  type WatchResponse,
} from '../../proto/gen/meetview/cascade/v1/cascade';
import type { Room } from '../media/Room';
import { CascadeError } from './CascadeError';
import type { PipeManager } from './PipeManager';
import type { RemoteProducerLease } from './RemoteProducerLease';

export { CascadeServiceService };

export type CascadeServiceOptions = {
  /** This edge's node id and region. */
  node: string;
  region: string;
  /** The edge's media room for a room name (WorkerPool.getRoom). */
  rooms: (roomId: string) => Room | undefined;
  /** How often a Watch stream gets a keepalive. Default 1000 ms. */
  keepaliveMs?: number;
  /** How long a caller's pipes outlive its last Watch stream before they are closed. Default 5000 ms. */
  lingerMs?: number;
  /**
   * This edge's subscriber side. With it the edge relays: a PipeProducer call that names an origin
   * for a producer this edge does not have makes it pipe the producer from there first.
   */
  relay?: PipeManager;
};

export type PipeCloseReason = 'requested' | 'roomclosed' | 'callerlost' | 'serviceclosed';

export type CascadeServiceEvents = {
  pipeopen: [{ callerNode: string; pipeId: string; room: string; srtp: boolean }];
  pipeclose: [{ callerNode: string; pipeId: string; room: string; reason: PipeCloseReason }];
  /**
   * The highest layers the viewers behind all pipes want for a producer changed (undefined: no pipe
   * states a wish any more). The conference combines it with its local viewers' wishes.
   */
  preferredlayers: [{ room: string; producerId: string; layers: types.ConsumerLayers | undefined }];
};

/** A producer sent into a pipe: its pipe consumer, and the relay lease when this edge relays it. */
type PipedEntry = {
  consumerId: string;
  producerId: string;
  /** The pipe consumer's parameters: what the caller produces. */
  rtpParameters: types.RtpParameters;
  layers: types.ConsumerLayers | undefined;
  relay: RemoteProducerLease | undefined;
};

/** One pipe this edge serves to a caller edge. */
type ServedPipe = {
  key: string;
  callerNode: string;
  pipeId: string;
  room: Room;
  transportId: string;
  peerId: string;
  piped: Map<string, PipedEntry>;
  detach: () => void;
  closed: boolean;
};

export type ServedPipeInfo = {
  callerNode: string;
  pipeId: string;
  room: string;
  transportId: string;
  producers: string[];
};

/**
 * The publisher side of the cascade: the Cascade gRPC service of an edge. It opens PipeTransports in
 * its rooms for caller edges, sends producers into them, forwards key frame requests and layer wishes,
 * and streams keepalives and producer pause/resume/close to each caller. A caller that holds no Watch
 * stream for `lingerMs` is taken as gone and its pipes are closed. Register `implementation()` on the
 * edge's internal gRPC server (which checks the internal token); close() ends everything it serves.
 */
export class CascadeService extends TypedEmitter<CascadeServiceEvents> {
  readonly definition = CascadeServiceService;
  readonly node: string;
  readonly region: string;
  readonly #rooms: (roomId: string) => Room | undefined;
  readonly #keepaliveMs: number;
  /** This service's incarnation, sent with every keepalive (see Keepalive.incarnation). */
  readonly incarnation = randomUUID();
  readonly #lingerMs: number;
  readonly #relay: PipeManager | undefined;
  readonly #pipes = new Map<string, ServedPipe>();
  readonly #watchers = new Map<string, Set<ServerWritableStream<WatchRequest, WatchResponse>>>();
  readonly #lingerTimers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(options: CascadeServiceOptions) {
    super();
    this.node = options.node;
    this.region = options.region;
    this.#rooms = options.rooms;
    this.#keepaliveMs = options.keepaliveMs ?? 1000;
    this.#lingerMs = options.lingerMs ?? 5000;
    this.#relay = options.relay;
  }

  /** The pipes this edge serves now (diagnostics, tests). */
  pipes(): ServedPipeInfo[] {
    return [...this.#pipes.values()].map((p) => ({
      callerNode: p.callerNode,
      pipeId: p.pipeId,
      room: p.room.id,
      transportId: p.transportId,
      producers: [...p.piped.keys()],
    }));
  }

  /** The gRPC handlers, for InternalServer.addService(service.definition, service.implementation()). */
  implementation(): CascadeServiceServer {
    return {
      openPipe: unary(async (req, caller) => {
        this.#assertOpen();
        if (!req.room) throw invalid('room is required');
        if (!req.pipeId) throw invalid('pipe_id is required');
        if (req.callerNode && req.callerNode !== caller)
          throw invalid(`caller_node "${req.callerNode}" is not the token's subject "${caller}"`);
        const endpoint = req.callerEndpoint;
        if (!endpoint?.ip || !Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535)
          throw invalid('caller_endpoint needs an ip and a port in 1..65535');
        if (req.callerRegion && req.callerRegion !== this.region && !req.enableSrtp)
          throw invalid(
            `a pipe from region ${req.callerRegion} to region ${this.region} must use SRTP (enable_srtp)`,
          );
        if (req.enableSrtp && !(endpoint.srtp?.cryptoSuite && endpoint.srtp.keyBase64))
          throw invalid('enable_srtp needs caller_endpoint.srtp (crypto suite and key)');
        const key = pipeKey(caller, req.pipeId);
        if (this.#pipes.has(key))
          throw new CascadeError(status.ALREADY_EXISTS, `pipe ${req.pipeId} of ${caller} is already open`);
        const room = this.#room(req.room);
        const peerId = `cascade:${caller}:${req.pipeId}`;
        const local = await room.createPipeTransport({
          peerId,
          enableSrtp: req.enableSrtp,
          appData: { cascade: { callerNode: caller, pipeId: req.pipeId } },
        });
        try {
          await room.connectPipeTransport(local.id, {
            ip: endpoint.ip,
            port: endpoint.port,
            ...(req.enableSrtp && endpoint.srtp
              ? {
                  srtpParameters: {
                    cryptoSuite: endpoint.srtp.cryptoSuite as types.SrtpCryptoSuite,
                    keyBase64: endpoint.srtp.keyBase64,
                  },
                }
              : {}),
          });
        } catch (error) {
          safeCloseTransport(room, local.id);
          throw error;
        }
        this.#addPipe(caller, req.pipeId, room, local.id, peerId);
        this.safeEmit('pipeopen', {
          callerNode: caller,
          pipeId: req.pipeId,
          room: room.id,
          srtp: req.enableSrtp,
        });
        return {
          calleeEndpoint: {
            ip: local.ip,
            port: local.port,
            srtp: local.srtpParameters
              ? { cryptoSuite: local.srtpParameters.cryptoSuite, keyBase64: local.srtpParameters.keyBase64 }
              : undefined,
          },
          calleeNode: this.node,
          calleeRegion: this.region,
        };
      }),

      closePipe: unary(async (req, caller) => {
        if (!req.pipeId) throw invalid('pipe_id is required');
        const pipe = this.#pipes.get(pipeKey(caller, req.pipeId));
        // Closing what is already gone is done.
        if (pipe) this.#closePipe(pipe, 'requested');
        return {};
      }),

      pipeProducer: unary(async (req, caller) => {
        this.#assertOpen();
        if (!req.producerId) throw invalid('producer_id is required');
        const pipe = this.#pipe(caller, req.pipeId);
        const existing = pipe.piped.get(req.producerId);
        if (existing) return this.#describe(pipe, existing);
        // A copy this edge pipes from elsewhere is held while it is served on (this edge relays it).
        let relay = this.#relay?.hold(pipe.room, req.producerId);
        if (!relay && !pipe.room.getProducer(req.producerId) && req.origin?.address) {
          relay = await this.#relayFrom(pipe.room, req.producerId, req.origin);
        }
        const producer = pipe.room.getProducer(req.producerId);
        if (!producer) {
          relay?.release();
          throw new CascadeError(
            status.NOT_FOUND,
            `no producer ${req.producerId} in room "${pipe.room.id}" on ${this.node} (closed or never existed)`,
          );
        }
        let consumer: { id: string; rtpParameters: types.RtpParameters };
        try {
          consumer = await pipe.room.consumeIntoPipe({
            transportId: pipe.transportId,
            producerId: req.producerId,
          });
        } catch (error) {
          relay?.release();
          throw error;
        }
        if (pipe.closed || this.#closed) {
          safeCloseConsumer(pipe.room, consumer.id);
          relay?.release();
          throw new CascadeError(status.NOT_FOUND, `pipe ${req.pipeId} closed meanwhile`);
        }
        const raced = pipe.piped.get(req.producerId);
        if (raced) {
          // A concurrent call for the same producer won: one pipe consumer per producer and pipe.
          safeCloseConsumer(pipe.room, consumer.id);
          relay?.release();
          return this.#describe(pipe, raced);
        }
        const entry: PipedEntry = {
          consumerId: consumer.id,
          producerId: req.producerId,
          rtpParameters: consumer.rtpParameters,
          layers: undefined,
          relay,
        };
        pipe.piped.set(req.producerId, entry);
        return this.#describe(pipe, entry);
      }),

      unpipeProducer: unary(async (req, caller) => {
        const pipe = this.#pipe(caller, req.pipeId);
        const entry = pipe.piped.get(req.producerId);
        if (entry) {
          this.#dropEntry(pipe, entry);
          safeCloseConsumer(pipe.room, entry.consumerId);
        }
        return {};
      }),

      requestKeyFrame: unary(async (req, caller) => {
        const pipe = this.#pipe(caller, req.pipeId);
        const entry = this.#entry(pipe, req.producerId);
        await pipe.room.requestKeyFrame(entry.consumerId);
        return {};
      }),

      setPreferredLayers: unary(async (req, caller) => {
        const pipe = this.#pipe(caller, req.pipeId);
        const entry = this.#entry(pipe, req.producerId);
        entry.layers = {
          spatialLayer: req.spatialLayer,
          ...(req.temporalLayer !== undefined ? { temporalLayer: req.temporalLayer } : {}),
        };
        // A relay passes the wish on towards the origin.
        if (entry.relay)
          void entry.relay.setPreferredLayers(this.#wantedLayers(pipe.room.id, entry.producerId)!);
        this.#emitLayers(pipe.room.id, entry.producerId);
        return {};
      }),

      watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
        const caller = callerOf(call.metadata);
        if (this.#closed) {
          call.destroy(new CascadeError(status.UNAVAILABLE, `cascade service on ${this.node} is closed`));
          return;
        }
        if (call.request.callerNode && call.request.callerNode !== caller) {
          call.destroy(
            invalid(`caller_node "${call.request.callerNode}" is not the token's subject "${caller}"`),
          );
          return;
        }
        this.#addWatcher(caller, call);
      },
    };
  }

  /** The highest layers wanted for a producer over every pipe that carries it (undefined: no wish). */
  wantedLayers(room: string, producerId: string): types.ConsumerLayers | undefined {
    return this.#wantedLayers(room, producerId);
  }

  /** Closes every served pipe and ends every Watch stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pipe of [...this.#pipes.values()]) this.#closePipe(pipe, 'serviceclosed');
    for (const timer of this.#lingerTimers.values()) clearTimeout(timer);
    this.#lingerTimers.clear();
    for (const set of this.#watchers.values()) for (const call of set) call.end();
    this.#watchers.clear();
  }

  #addPipe(callerNode: string, pipeId: string, room: Room, transportId: string, peerId: string): void {
    const pipe: ServedPipe = {
      key: pipeKey(callerNode, pipeId),
      callerNode,
      pipeId,
      room,
      transportId,
      peerId,
      piped: new Map(),
      detach: () => undefined,
      closed: false,
    };
    const byConsumer = (consumerId: string) =>
      [...pipe.piped.values()].find((e) => e.consumerId === consumerId);
    const onPause = ({ consumerId }: { consumerId: string }) => {
      const e = byConsumer(consumerId);
      if (e)
        this.#send(callerNode, { event: { $case: 'producerPaused', value: { producerId: e.producerId } } });
    };
    const onResume = ({ consumerId }: { consumerId: string }) => {
      const e = byConsumer(consumerId);
      if (e)
        this.#send(callerNode, { event: { $case: 'producerResumed', value: { producerId: e.producerId } } });
    };
    // The pipe consumer went away without the caller asking: its producer closed here.
    const onConsumerClose = ({ consumerId }: { consumerId: string }) => {
      const e = byConsumer(consumerId);
      if (!e) return;
      this.#dropEntry(pipe, e);
      this.#send(callerNode, { event: { $case: 'producerClosed', value: { producerId: e.producerId } } });
    };
    const onRoomClose = () => this.#closePipe(pipe, 'roomclosed');
    room.on('consumerproducerpause', onPause);
    room.on('consumerproducerresume', onResume);
    room.on('consumerclose', onConsumerClose);
    room.once('close', onRoomClose);
    pipe.detach = () => {
      room.off('consumerproducerpause', onPause);
      room.off('consumerproducerresume', onResume);
      room.off('consumerclose', onConsumerClose);
      room.off('close', onRoomClose);
    };
    this.#pipes.set(pipe.key, pipe);
    // A caller that never watches (or stopped) does not keep pipes open forever.
    if (!this.#watchers.get(callerNode)?.size) this.#startLinger(callerNode);
  }

  #closePipe(pipe: ServedPipe, reason: PipeCloseReason): void {
    if (pipe.closed) return;
    pipe.closed = true;
    pipe.detach();
    this.#pipes.delete(pipe.key);
    for (const entry of [...pipe.piped.values()]) this.#dropEntry(pipe, entry);
    safeCloseTransport(pipe.room, pipe.transportId);
    if (reason !== 'requested')
      this.#send(pipe.callerNode, { event: { $case: 'pipeClosed', value: { pipeId: pipe.pipeId } } });
    this.safeEmit('pipeclose', {
      callerNode: pipe.callerNode,
      pipeId: pipe.pipeId,
      room: pipe.room.id,
      reason,
    });
  }

  /** Forgets a piped producer (its consumer is closed by the caller of this, or is already gone). */
  #dropEntry(pipe: ServedPipe, entry: PipedEntry): void {
    if (pipe.piped.get(entry.producerId) !== entry) return;
    pipe.piped.delete(entry.producerId);
    entry.relay?.release();
    if (entry.layers) this.#emitLayers(pipe.room.id, entry.producerId);
  }

  async #relayFrom(room: Room, producerId: string, origin: NodeRef): Promise<RemoteProducerLease> {
    if (!this.#relay)
      throw new CascadeError(
        status.NOT_FOUND,
        `no producer ${producerId} in room "${room.id}" on ${this.node}, and this edge does not relay`,
      );
    if (origin.node === this.node) throw invalid(`origin ${origin.node} is this edge`);
    return this.#relay.acquire({ room, producerId, source: origin });
  }

  #describe(pipe: ServedPipe, entry: PipedEntry) {
    const producer = pipe.room.getProducer(entry.producerId);
    if (!producer) throw new CascadeError(status.NOT_FOUND, `producer ${entry.producerId} closed meanwhile`);
    return {
      producerId: entry.producerId,
      kind: producer.kind,
      rtpParametersJson: JSON.stringify(entry.rtpParameters),
      paused: producer.paused,
      appDataJson: JSON.stringify(producer.appData ?? {}),
    };
  }

  #wantedLayers(room: string, producerId: string): types.ConsumerLayers | undefined {
    let best: types.ConsumerLayers | undefined;
    for (const pipe of this.#pipes.values()) {
      if (pipe.room.id !== room) continue;
      const layers = pipe.piped.get(producerId)?.layers;
      if (!layers) continue;
      if (
        !best ||
        layers.spatialLayer > best.spatialLayer ||
        (layers.spatialLayer === best.spatialLayer &&
          (layers.temporalLayer ?? Number.POSITIVE_INFINITY) >
            (best.temporalLayer ?? Number.POSITIVE_INFINITY))
      )
        best = layers;
    }
    return best;
  }

  #emitLayers(room: string, producerId: string): void {
    this.safeEmit('preferredlayers', { room, producerId, layers: this.#wantedLayers(room, producerId) });
  }

  #addWatcher(caller: string, call: ServerWritableStream<WatchRequest, WatchResponse>): void {
    let set = this.#watchers.get(caller);
    if (!set) {
      set = new Set();
      this.#watchers.set(caller, set);
    }
    set.add(call);
    const linger = this.#lingerTimers.get(caller);
    if (linger) {
      clearTimeout(linger);
      this.#lingerTimers.delete(caller);
    }
    const keepalive = () =>
      call.write({
        event: {
          $case: 'keepalive',
          value: { tsMs: Date.now(), intervalMs: this.#keepaliveMs, incarnation: this.incarnation },
        },
      });
    // The first keepalive tells the caller the stream is up (events after it are not missed).
    keepalive();
    const timer = setInterval(keepalive, this.#keepaliveMs);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(timer);
      const current = this.#watchers.get(caller);
      current?.delete(call);
      if (current && current.size === 0) {
        this.#watchers.delete(caller);
        if (!this.#closed) this.#startLinger(caller);
      }
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
    call.on('finish', finish);
  }

  #startLinger(caller: string): void {
    if (this.#lingerTimers.has(caller)) return;
    const hasPipes = [...this.#pipes.values()].some((p) => p.callerNode === caller);
    if (!hasPipes) return;
    this.#lingerTimers.set(
      caller,
      setTimeout(() => {
        this.#lingerTimers.delete(caller);
        if (this.#watchers.get(caller)?.size) return;
        for (const pipe of [...this.#pipes.values()])
          if (pipe.callerNode === caller) this.#closePipe(pipe, 'callerlost');
      }, this.#lingerMs).unref(),
    );
  }

  #send(caller: string, message: WatchResponse): void {
    for (const call of this.#watchers.get(caller) ?? []) call.write(message);
  }

  #room(roomId: string): Room {
    const room = this.#rooms(roomId);
    if (!room || room.closed) throw new CascadeError(status.NOT_FOUND, `no room "${roomId}" on ${this.node}`);
    return room;
  }

  #pipe(caller: string, pipeId: string): ServedPipe {
    if (!pipeId) throw invalid('pipe_id is required');
    const pipe = this.#pipes.get(pipeKey(caller, pipeId));
    if (!pipe) throw new CascadeError(status.NOT_FOUND, `no pipe ${pipeId} of ${caller} on ${this.node}`);
    return pipe;
  }

  #entry(pipe: ServedPipe, producerId: string): PipedEntry {
    const entry = pipe.piped.get(producerId);
    if (!entry)
      throw new CascadeError(
        status.NOT_FOUND,
        `producer ${producerId} is not piped into pipe ${pipe.pipeId}`,
      );
    return entry;
  }

  #assertOpen(): void {
    if (this.#closed) throw new CascadeError(status.UNAVAILABLE, `cascade service on ${this.node} is closed`);
  }
}

function pipeKey(callerNode: string, pipeId: string): string {
  return `${callerNode}\u0000${pipeId}`;
}

function invalid(message: string): CascadeError {
  return new CascadeError(status.INVALID_ARGUMENT, message);
}

function callerOf(metadata: Metadata): string {
  const value = metadata.get(CALLER_HEADER)[0];
  // The auth interceptor always sets it; a server without the interceptor must not serve pipes.
  if (typeof value !== 'string' || !value)
    throw new CascadeError(status.UNAUTHENTICATED, 'no verified caller (internal auth interceptor missing)');
  return value;
}

/** A unary handler: the verified caller in, a typed gRPC status out for whatever it throws. */
function unary<Req, Res>(
  fn: (request: Req, caller: string) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, callerOf(call.metadata)))
      .then(
        (res) => callback(null, res),
        (error: unknown) => {
          const e = CascadeError.from(error);
          callback({ code: e.code, details: e.message, name: e.name, message: e.message });
        },
      );
  };
}

function safeCloseTransport(room: Room, transportId: string): void {
  try {
    if (!room.closed) room.closeTransport(transportId);
  } catch {
    // Gone with its room already.
  }
}

function safeCloseConsumer(room: Room, consumerId: string): void {
  try {
    if (!room.closed) room.closeConsumer(consumerId);
  } catch {
    // Gone with its producer or transport already.
  }
}
