import { status } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { types } from 'mediasoup';
import type { InternalTokens } from '../../lib/auth/internal';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import type { Room } from '../media/Room';
import { CascadeClient } from './CascadeClient';
import { CascadeError } from './CascadeError';
import { type RemoteProducerCloseReason, RemoteProducerLease } from './RemoteProducerLease';

export type PipeManagerOptions = {
  /** This edge's node id (it signs the calls) and region (SRTP on pipes to other regions). */
  node: string;
  region: string;
  tokens: InternalTokens;
  /** Watch keepalive deadline per peer. Default 3000 ms. */
  keepaliveDeadlineMs?: number;
  /** Deadline of each unary call. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Spans for the calls to peer edges made inside a traced operation (a remote subscription). */
  tracer?: Tracer;
};

export type PipeManagerEvents = {
  /** A remote producer left this edge without a local release: the conference withdraws its tracks. */
  remoteproducerclose: [
    { room: string; producerId: string; peer: string; reason: RemoteProducerCloseReason },
  ];
  /**
   * A piped producer is gone from this edge for whatever reason (last release, failure, close): how the
   * relay claim of a copy piped from the origin follows the copy (RemoteTrackSource).
   */
  unpiped: [{ room: string; producerId: string; peer: string }];
  /** A peer edge stopped answering; every producer piped from it was closed here (one event each above). */
  peerlost: [{ peer: NodeRef; error: CascadeError; incarnation: string }];
};

export type RemotePipeInfo = {
  room: string;
  peer: string;
  pipeId: string;
  transportId: string | undefined;
  srtp: boolean;
  producers: { producerId: string; holders: number }[];
};

/** One remote producer piped into a local room, shared by all its leases. */
type PipedProducer = {
  producerId: string;
  ready: Promise<PipeProducerResult>;
  leases: Set<RemoteProducerLease>;
  /** acquire() calls waiting for it: they count as holders, so a release meanwhile does not close it. */
  pending: number;
  /** Set once the local producer exists. */
  produced: boolean;
  result: PipeProducerResult | undefined;
  closed: boolean;
  /** Layers last sent to the peer (JSON), to skip repeats. */
  sentLayers: string | undefined;
};

type PipeProducerResult = { kind: types.MediaKind; appData: Record<string, unknown> };

/** One pipe: a local PipeTransport in a room, and its far end on one peer edge. */
type RemotePipe = {
  key: string;
  room: Room;
  peer: NodeRef;
  link: PeerLink;
  pipeId: string;
  srtp: boolean;
  transportId: string | undefined;
  ready: Promise<void>;
  opened: boolean;
  producers: Map<string, PipedProducer>;
  /** Per producer id, the last pipe/unpipe call: calls for one producer reach the peer in order. */
  chains: Map<string, Promise<unknown>>;
  closed: boolean;
  detach: () => void;
};

/** The connection to one peer edge, shared by every pipe to it. */
type PeerLink = { client: CascadeClient; ready: Promise<void>; pipes: Set<RemotePipe> };

/**
 * The subscriber side of the cascade on one edge. acquire() gives a local producer for a producer that
 * lives on another edge: one pipe per (room, peer edge), one piped producer per remote producer however
 * many hold it, both reference-counted and closed (here and on the peer) by the last release. Pause,
 * resume and close on the owner side reach the local copy through the peer's Watch stream; a peer that
 * misses its keepalive deadline is taken as gone and everything piped from it is closed, with a
 * 'remoteproducerclose' per producer and one 'peerlost'. To relay, give acquire() the relay edge as
 * `source` and the owner as `origin`.
 */
export class PipeManager extends TypedEmitter<PipeManagerEvents> {
  readonly node: string;
  readonly region: string;
  readonly #tokens: InternalTokens;
  readonly #deadlineMs: number | undefined;
  readonly #callTimeoutMs: number | undefined;
  readonly #tracer: Tracer | undefined;
  readonly #links = new Map<string, PeerLink>();
  readonly #pipes = new Map<string, RemotePipe>();
  #nextPipe = 0;
  #closed = false;

  constructor(options: PipeManagerOptions) {
    super();
    this.node = options.node;
    this.region = options.region;
    this.#tokens = options.tokens;
    this.#deadlineMs = options.keepaliveDeadlineMs;
    this.#callTimeoutMs = options.callTimeoutMs;
    this.#tracer = options.tracer;
  }

  /**
   * A hold on `producerId` of `room`, piped from `source` (the owner edge, or a relay edge that pipes it
   * from `origin`). Resolves once the local producer exists. Fails with a CascadeError: NOT_FOUND when
   * the peer has no such room or producer, UNAVAILABLE/DEADLINE_EXCEEDED when the peer does not answer.
   */
  async acquire(options: {
    room: Room;
    producerId: string;
    source: NodeRef;
    origin?: NodeRef;
  }): Promise<RemoteProducerLease> {
    if (this.#closed) throw new CascadeError(status.UNAVAILABLE, `pipe manager of ${this.node} is closed`);
    const { room, producerId, source, origin } = options ?? {};
    if (!room || room.closed)
      throw new CascadeError(status.FAILED_PRECONDITION, 'acquire needs an open room');
    if (typeof producerId !== 'string' || !producerId)
      throw new CascadeError(status.INVALID_ARGUMENT, 'producerId must be a non-empty string');
    if (!source?.node || !source.address || !source.region)
      throw new CascadeError(status.INVALID_ARGUMENT, 'source needs node, region and address');
    if (source.node === this.node)
      throw new CascadeError(status.INVALID_ARGUMENT, `source ${source.node} is this edge: consume locally`);
    // Already piped into this room (from this source or another): one local copy per remote producer.
    const held = this.hold(room, producerId);
    if (held) return held;
    const pipe = this.#pipeFor(room, source);
    let piped = pipe.producers.get(producerId);
    if (!piped) piped = this.#pipeProducer(pipe, producerId, origin);
    const shared = piped;
    shared.pending++;
    let result: PipeProducerResult;
    try {
      result = await shared.ready;
    } finally {
      shared.pending--;
    }
    if (shared.closed || pipe.closed)
      throw new CascadeError(
        status.UNAVAILABLE,
        `producer ${producerId} from ${source.node} closed meanwhile`,
      );
    return this.#lease(pipe, shared, result);
  }

  /**
   * One more hold on a remote producer that is already piped into `room` (undefined when it is not):
   * how a relay keeps its copy while it serves it on to other edges of its region.
   */
  hold(room: Room, producerId: string): RemoteProducerLease | undefined {
    for (const pipe of this.#pipes.values()) {
      if (pipe.room !== room || pipe.closed) continue;
      const piped = pipe.producers.get(producerId);
      if (piped?.produced && !piped.closed && piped.result) return this.#lease(pipe, piped, piped.result);
    }
    return undefined;
  }

  #lease(pipe: RemotePipe, piped: PipedProducer, result: PipeProducerResult): RemoteProducerLease {
    const { producerId } = piped;
    const lease = new RemoteProducerLease({
      room: pipe.room.id,
      producerId,
      kind: result.kind,
      peer: pipe.peer,
      appData: result.appData,
      handle: {
        release: (l) => this.#release(pipe, piped, l),
        requestKeyFrame: () => pipe.link.client.requestKeyFrame({ pipeId: pipe.pipeId, producerId }),
        setPreferredLayers: () => this.#sendLayers(pipe, piped),
      },
    });
    piped.leases.add(lease);
    return lease;
  }

  /** The pipes this edge holds now (diagnostics, tests). */
  pipes(): RemotePipeInfo[] {
    return [...this.#pipes.values()].map((p) => ({
      room: p.room.id,
      peer: p.peer.node,
      pipeId: p.pipeId,
      transportId: p.transportId,
      srtp: p.srtp,
      producers: [...p.producers.values()].map((s) => ({ producerId: s.producerId, holders: s.leases.size })),
    }));
  }

  /** Closes every pipe (telling the peers) and every peer connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const pipe of [...this.#pipes.values()]) this.#closePipe(pipe, 'managerclosed', true);
    // Give the ClosePipe calls a moment before the channels go.
    const links = [...this.#links.values()];
    this.#links.clear();
    setTimeout(() => {
      for (const link of links) link.client.close();
    }, 500).unref();
  }

  /**
   * Resolves with the peer's incarnation once it answers (a Watch stream with a keepalive), trying every
   * `everyMs`; rejects when this manager closes. How an edge lost to the cascade is noticed to be back.
   */
  async reachPeer(peer: NodeRef, everyMs = 2000): Promise<string> {
    while (!this.#closed) {
      const link = this.#linkFor(peer);
      try {
        await link.ready;
        return link.client.incarnation;
      } catch {
        await new Promise((r) => setTimeout(r, everyMs).unref());
      }
    }
    throw new CascadeError(status.CANCELLED, 'the pipe manager is closed');
  }

  /**
   * Keeps a Watch stream open to `peer` without any pipe (idempotent), so that its loss is noticed
   * ('peerlost') even when nothing is piped from it: how an edge learns that the edge serving remote
   * participants it shows has died. Ignored for this edge, or a peer without an address.
   */
  watch(peer: NodeRef): void {
    if (this.#closed || peer.node === this.node || !peer.address || !peer.region) return;
    this.#linkFor(peer);
  }

  #linkFor(peer: NodeRef): PeerLink {
    const existing = this.#links.get(peer.node);
    if (existing && !existing.client.closed) return existing;
    const client = new CascadeClient({
      node: this.node,
      tokens: this.#tokens,
      peer,
      ...(this.#deadlineMs ? { keepaliveDeadlineMs: this.#deadlineMs } : {}),
      ...(this.#callTimeoutMs ? { callTimeoutMs: this.#callTimeoutMs } : {}),
      ...(this.#tracer ? { tracer: this.#tracer } : {}),
    });
    const link: PeerLink = { client, ready: client.watch(), pipes: new Set() };
    // A failed first watch is reported to the acquire that waits on it; 'lost' does the cleanup.
    link.ready.catch(() => undefined);
    this.#links.set(peer.node, link);
    const pipesWith = (producerId: string) =>
      [...link.pipes].filter((p) => p.producers.get(producerId)?.produced && !p.closed);
    client.on('producerpause', ({ producerId }) => {
      for (const p of pipesWith(producerId)) void p.room.pauseProducer(producerId).catch(() => undefined);
    });
    client.on('producerresume', ({ producerId }) => {
      for (const p of pipesWith(producerId)) void p.room.resumeProducer(producerId).catch(() => undefined);
    });
    client.on('producerclose', ({ producerId }) => {
      for (const p of [...link.pipes]) {
        const piped = p.producers.get(producerId);
        if (piped) this.#closePiped(p, piped, 'producerclosed', false);
      }
    });
    client.on('pipeclose', ({ pipeId }) => {
      for (const p of [...link.pipes]) if (p.pipeId === pipeId) this.#closePipe(p, 'pipeclosed', false);
    });
    client.on('lost', (error) => {
      if (this.#links.get(peer.node) === link) this.#links.delete(peer.node);
      for (const p of [...link.pipes]) this.#closePipe(p, 'peerlost', false);
      this.safeEmit('peerlost', { peer, error, incarnation: client.incarnation });
    });
    return link;
  }

  #pipeFor(room: Room, peer: NodeRef): RemotePipe {
    const key = `${room.id}\u0000${peer.node}`;
    const existing = this.#pipes.get(key);
    if (existing && !existing.closed) return existing;
    const link = this.#linkFor(peer);
    const pipe: RemotePipe = {
      key,
      room,
      peer,
      link,
      pipeId: `${this.node}-p${++this.#nextPipe}`,
      srtp: peer.region !== this.region,
      transportId: undefined,
      ready: Promise.resolve(),
      opened: false,
      producers: new Map(),
      chains: new Map(),
      closed: false,
      detach: () => undefined,
    };
    this.#pipes.set(key, pipe);
    link.pipes.add(pipe);
    const onProducerClose = ({ producerId }: { producerId: string }) => {
      const piped = pipe.producers.get(producerId);
      // Closed here by someone else than this manager (e.g. the room's owner): tell the peer too.
      if (piped?.produced && !piped.closed) this.#closePiped(pipe, piped, 'localclosed', true);
    };
    const onRoomClose = () => this.#closePipe(pipe, 'roomclosed', true);
    room.on('producerclose', onProducerClose);
    room.once('close', onRoomClose);
    pipe.detach = () => {
      room.off('producerclose', onProducerClose);
      room.off('close', onRoomClose);
    };
    pipe.ready = this.#open(pipe);
    pipe.ready.catch(() => this.#closePipe(pipe, 'peerlost', pipe.opened));
    return pipe;
  }

  async #open(pipe: RemotePipe): Promise<void> {
    const { room, peer, link } = pipe;
    await link.ready;
    this.#assertLive(pipe);
    const local = await room.createPipeTransport({
      peerId: `cascade:${peer.node}`,
      enableSrtp: pipe.srtp,
      appData: { cascade: { peerNode: peer.node, pipeId: pipe.pipeId } },
    });
    pipe.transportId = local.id;
    if (pipe.closed) {
      closeTransport(room, local.id);
      this.#assertLive(pipe);
    }
    const answer = await link.client.openPipe({
      room: room.id,
      pipeId: pipe.pipeId,
      callerNode: this.node,
      callerRegion: this.region,
      callerEndpoint: {
        ip: local.ip,
        port: local.port,
        srtp: local.srtpParameters
          ? { cryptoSuite: local.srtpParameters.cryptoSuite, keyBase64: local.srtpParameters.keyBase64 }
          : undefined,
      },
      enableSrtp: pipe.srtp,
    });
    pipe.opened = true;
    this.#assertLive(pipe);
    if (answer.calleeNode !== peer.node)
      throw new CascadeError(
        status.FAILED_PRECONDITION,
        `${peer.address} is ${answer.calleeNode || 'an unnamed node'}, not ${peer.node}`,
      );
    const far = answer.calleeEndpoint;
    if (!far?.ip || !far.port)
      throw new CascadeError(status.INTERNAL, `${peer.node} answered no pipe endpoint`);
    if (pipe.srtp && !far.srtp?.keyBase64)
      throw new CascadeError(
        status.INTERNAL,
        `${peer.node} answered no SRTP parameters for a cross-region pipe`,
      );
    await room.connectPipeTransport(local.id, {
      ip: far.ip,
      port: far.port,
      ...(pipe.srtp && far.srtp
        ? {
            srtpParameters: {
              cryptoSuite: far.srtp.cryptoSuite as types.SrtpCryptoSuite,
              keyBase64: far.srtp.keyBase64,
            },
          }
        : {}),
    });
  }

  #pipeProducer(pipe: RemotePipe, producerId: string, origin: NodeRef | undefined): PipedProducer {
    const piped: PipedProducer = {
      producerId,
      ready: Promise.resolve({ kind: 'audio', appData: {} }),
      leases: new Set(),
      pending: 0,
      produced: false,
      result: undefined,
      closed: false,
      sentLayers: undefined,
    };
    pipe.producers.set(producerId, piped);
    piped.ready = this.#chain(pipe, producerId, async (): Promise<PipeProducerResult> => {
      await pipe.ready;
      this.#assertLive(pipe, piped);
      const answer = await pipe.link.client.pipeProducer({ pipeId: pipe.pipeId, producerId, origin });
      this.#assertLive(pipe, piped);
      const kind = answer.kind as types.MediaKind;
      const remoteAppData = parseJson(answer.appDataJson) as Record<string, unknown>;
      await pipe.room.produce({
        transportId: pipe.transportId!,
        id: producerId,
        kind,
        rtpParameters: parseJson(answer.rtpParametersJson) as types.RtpParameters,
        paused: answer.paused,
        appData: {
          ...remoteAppData,
          // Room.produce() tags the local copy with the pipe's peer; the owner's peer stays readable.
          ownerPeerId: remoteAppData.peerId,
          cascade: {
            peerNode: pipe.peer.node,
            region: pipe.peer.region,
            origin: origin?.node ?? pipe.peer.node,
          },
        },
      });
      piped.produced = true;
      if (piped.closed || pipe.closed) {
        closeProducer(pipe.room, producerId);
        throw new CascadeError(status.UNAVAILABLE, `producer ${producerId} closed meanwhile`);
      }
      piped.result = { kind, appData: remoteAppData };
      return piped.result;
    });
    piped.ready.catch(() => {
      // Nobody holds it: forget it, and the pipe with it if it carries nothing else.
      if (pipe.producers.get(producerId) === piped) this.#closePiped(pipe, piped, undefined, piped.produced);
    });
    return piped;
  }

  #release(pipe: RemotePipe, piped: PipedProducer, lease: RemoteProducerLease): void {
    piped.leases.delete(lease);
    if (piped.closed) return;
    if (piped.leases.size > 0 || piped.pending > 0) {
      if (lease.preferredLayers) void this.#sendLayers(pipe, piped).catch(() => undefined);
      return;
    }
    this.#closePiped(pipe, piped, undefined, true);
  }

  /**
   * Forgets a piped producer and closes its local copy; `reason` is told to the holders (none on a
   * release). The peer is told when `notifyPeer`. The last producer of a pipe takes the pipe with it.
   */
  #closePiped(
    pipe: RemotePipe,
    piped: PipedProducer,
    reason: RemoteProducerCloseReason | undefined,
    notifyPeer: boolean,
  ): void {
    if (piped.closed) return;
    piped.closed = true;
    if (pipe.producers.get(piped.producerId) === piped) pipe.producers.delete(piped.producerId);
    if (piped.produced) closeProducer(pipe.room, piped.producerId);
    // The last producer of a pipe goes with the pipe (ClosePipe below), no separate unpipe.
    if (notifyPeer && pipe.opened && !pipe.closed && pipe.producers.size > 0)
      void this.#chain(pipe, piped.producerId, () =>
        pipe.link.client.unpipeProducer({ pipeId: pipe.pipeId, producerId: piped.producerId }),
      ).catch(() => undefined);
    if (reason) {
      for (const lease of [...piped.leases]) lease.ended(reason);
      if (piped.produced)
        this.safeEmit('remoteproducerclose', {
          room: pipe.room.id,
          producerId: piped.producerId,
          peer: pipe.peer.node,
          reason,
        });
    }
    piped.leases.clear();
    this.safeEmit('unpiped', { room: pipe.room.id, producerId: piped.producerId, peer: pipe.peer.node });
    // An empty pipe goes too; the peer is told unless the end came from its side.
    const fromPeer = reason === 'peerlost' || reason === 'pipeclosed';
    if (pipe.producers.size === 0 && !pipe.closed)
      this.#closePipe(pipe, reason ?? 'managerclosed', !fromPeer);
  }

  #closePipe(pipe: RemotePipe, reason: RemoteProducerCloseReason, notifyPeer: boolean): void {
    if (pipe.closed) return;
    pipe.closed = true;
    pipe.detach();
    if (this.#pipes.get(pipe.key) === pipe) this.#pipes.delete(pipe.key);
    for (const piped of [...pipe.producers.values()]) this.#closePiped(pipe, piped, reason, false);
    if (pipe.transportId) closeTransport(pipe.room, pipe.transportId);
    const { link } = pipe;
    link.pipes.delete(pipe);
    const closeLinkIfIdle = () => {
      if (link.pipes.size > 0 || link.client.closed) return;
      if (this.#links.get(link.client.peer.node) === link) this.#links.delete(link.client.peer.node);
      link.client.close();
    };
    if (notifyPeer && pipe.opened && !link.client.closed)
      void link.client
        .closePipe({ pipeId: pipe.pipeId })
        .catch(() => undefined)
        .finally(closeLinkIfIdle);
    else closeLinkIfIdle();
  }

  async #sendLayers(pipe: RemotePipe, piped: PipedProducer): Promise<void> {
    let best: types.ConsumerLayers | undefined;
    for (const lease of piped.leases) {
      const l = lease.preferredLayers;
      if (!l) continue;
      if (
        !best ||
        l.spatialLayer > best.spatialLayer ||
        (l.spatialLayer === best.spatialLayer && (l.temporalLayer ?? 99) > (best.temporalLayer ?? 99))
      )
        best = l;
    }
    if (!best) return;
    const json = JSON.stringify(best);
    if (json === piped.sentLayers) return;
    piped.sentLayers = json;
    await pipe.link.client.setPreferredLayers({
      pipeId: pipe.pipeId,
      producerId: piped.producerId,
      spatialLayer: best.spatialLayer,
      ...(best.temporalLayer !== undefined ? { temporalLayer: best.temporalLayer } : {}),
    });
  }

  /** Runs `fn` after the previous call for the same producer on this pipe has settled. */
  #chain<T>(pipe: RemotePipe, producerId: string, fn: () => Promise<T>): Promise<T> {
    const previous = pipe.chains.get(producerId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    pipe.chains.set(producerId, tail);
    void tail.then(() => {
      if (pipe.chains.get(producerId) === tail) pipe.chains.delete(producerId);
    });
    return next;
  }

  #assertLive(pipe: RemotePipe, piped?: PipedProducer): void {
    if (pipe.closed || piped?.closed)
      throw new CascadeError(status.UNAVAILABLE, `pipe to ${pipe.peer.node} closed meanwhile`);
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : {};
  } catch (error) {
    throw new CascadeError(status.INTERNAL, `peer answered invalid JSON: ${(error as Error).message}`);
  }
}

function closeTransport(room: Room, transportId: string): void {
  try {
    if (!room.closed) room.closeTransport(transportId);
  } catch {
    // Gone with its room already.
  }
}

function closeProducer(room: Room, producerId: string): void {
  try {
    if (!room.closed) room.closeProducer(producerId);
  } catch {
    // Gone with its transport or room already.
  }
}
