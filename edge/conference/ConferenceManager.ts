import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import { ErrorCode, SignalingError } from '../../proto/signaling/errors';
import type { WorkerPool } from '../media/WorkerPool';
import type { NodeRecord, NodeRegistry } from '../routing/NodeRegistry';
import type { RoomDirectory } from '../routing/RoomDirectory';
import { Conference, type ConferenceOptions } from './Conference';

export type Placement = { kind: 'local'; conference: Conference } | { kind: 'redirect'; node: NodeRecord };

export interface ConferenceManagerOptions extends ConferenceOptions {
  url: string;
  /** host:port of this edge's internal gRPC server, published in its heartbeat. */
  internal: string;
  heartbeatMs: number;
  placement: 'home' | 'local';
  /**
   * Keeps watching an edge that serves remote participants shown here (PipeManager.watch), so its loss
   * hides them (peerLost) even when nothing is piped from it. Unset: only piped edges are watched.
   */
  watchPeer?: (peer: NodeRef) => void;
}

/**
 * The conferences on this edge, and where a room goes in the region. A room lives on one edge of the
 * region (its home, claimed in Redis): a client that reaches another edge is redirected there; a room
 * with no home (or whose home stopped heartbeating) goes to the least-loaded live edge.
 * It owns the conferences and this node's heartbeat.
 */
export class ConferenceManager {
  readonly #pool: WorkerPool;
  readonly #directory: RoomDirectory;
  readonly #registry: NodeRegistry;
  readonly #opts: ConferenceManagerOptions;
  readonly #conferences = new Map<string, Conference>();
  readonly #opening = new Map<string, Promise<Conference>>();
  /** Edges lost to the cascade (node → when), shared by the conferences here. */
  readonly #lostNodes = new Map<string, number>();
  #draining = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    pool: WorkerPool,
    directory: RoomDirectory,
    registry: NodeRegistry,
    opts: ConferenceManagerOptions,
  ) {
    this.#pool = pool;
    this.#directory = directory;
    this.#registry = registry;
    this.#opts = opts;
  }

  get node(): string {
    return this.#opts.node;
  }

  /** Starts heartbeating; the node becomes eligible for new rooms once the first beat is written. */
  async start(): Promise<void> {
    await this.#beat();
    this.#heartbeat = setInterval(() => {
      this.#beat().catch((err) => console.error('[edge] heartbeat failed:', (err as Error).message));
    }, this.#opts.heartbeatMs);
    this.#heartbeat.unref();
  }

  set draining(value: boolean) {
    this.#draining = value;
  }

  get(room: string): Conference | undefined {
    return this.#conferences.get(room);
  }

  load(): { rooms: number; participants: number; tracks: number } {
    let participants = 0;
    let tracks = 0;
    for (const c of this.#conferences.values()) {
      participants += c.participantCount;
      tracks += c.trackCount;
    }
    return { rooms: this.#conferences.size, participants, tracks };
  }

  /** The other regions' state of `room` changed (RemoteRoomFeed): its conference here tells its participants. */
  remoteChanged(room: string): void {
    const conference = this.#conferences.get(room);
    if (!conference) return;
    conference.syncRemote();
    this.#watchOwners(room);
  }

  /** Watches the edges serving the remote participants of a room hosted here. */
  #watchOwners(room: string): void {
    const { watchPeer, cascade } = this.#opts;
    if (!watchPeer || !cascade) return;
    for (const p of cascade.remote(room).participants.values())
      if (p.owner.node !== this.#opts.node) watchPeer(p.owner);
  }

  /** A peer edge stopped answering the cascade: every conference withdraws the tracks it owns. */
  peerLost(node: string): void {
    this.#lostNodes.set(node, Date.now());
    for (const c of this.#conferences.values()) c.peerLost(node);
  }

  /** A peer edge lost to the cascade answers again, unchanged (a healed partition): its tracks come back. */
  peerBack(node: string): void {
    if (!this.#lostNodes.delete(node)) return;
    for (const c of this.#conferences.values()) c.peerBack(node);
  }

  /** Decides where a participant of `room` is served: here, or on the edge that is the room's home. */
  async place(room: string): Promise<Placement> {
    if (this.#closed) throw new SignalingError(ErrorCode.Unavailable, 'this edge is shutting down');
    const local = this.#conferences.get(room);
    if (local && !local.closed) return { kind: 'local', conference: local };
    if (this.#opts.placement === 'local') return { kind: 'local', conference: await this.#open(room) };
    const me = this.#opts.node;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const home = await this.#directory.home(room);
        if (home && home !== me) {
          const rec = await this.#registry.get(home);
          if (rec) return { kind: 'redirect', node: rec };
          // The home stopped heartbeating: take its rooms over here.
          const held = await this.#directory.claimHome(room, me, home);
          if (held === me) return { kind: 'local', conference: await this.#open(room) };
          continue;
        }
        if (home === me) return { kind: 'local', conference: await this.#open(room) };
        const target = this.#draining ? await this.#registry.pickLeastLoaded() : await this.#pickForNewRoom();
        const held = await this.#directory.claimHome(room, target?.id ?? me);
        if (held === me) return { kind: 'local', conference: await this.#open(room) };
        const rec = await this.#registry.get(held);
        if (rec) return { kind: 'redirect', node: rec };
      }
    } catch (err) {
      if (err instanceof SignalingError) throw err;
      throw new SignalingError(ErrorCode.Unavailable, `room placement failed: ${(err as Error).message}`);
    }
    throw new SignalingError(ErrorCode.Unavailable, `could not place room ${room}; retry`);
  }

  /** Stops the heartbeat, ends every conference and withdraws this node from the region. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const c of [...this.#conferences.values()]) c.close('edge shutting down', 1001);
    await this.#registry.remove(this.#opts.node).catch(() => undefined);
  }

  // This node is a candidate like the others; ties go to whoever asks (no redirect for nothing).
  async #pickForNewRoom(): Promise<NodeRecord | undefined> {
    const best = await this.#registry.pickLeastLoaded();
    if (!best || best.id === this.#opts.node) return best;
    const mine = await this.#registry.get(this.#opts.node);
    if (mine && !mine.draining && sameLoad(mine, best)) return mine;
    return best;
  }

  async #open(room: string): Promise<Conference> {
    const existing = this.#conferences.get(room);
    if (existing && !existing.closed) return existing;
    let pending = this.#opening.get(room);
    if (!pending) {
      pending = (async () => {
        const mediaRoom = await this.#pool.createRoom({ roomId: room });
        const cascade = this.#opts.cascade && { ...this.#opts.cascade, lostNodes: this.#lostNodes };
        const conference = new Conference(room, mediaRoom, this.#directory, { ...this.#opts, cascade });
        this.#conferences.set(room, conference);
        this.#watchOwners(room);
        conference.on('close', () => {
          if (this.#conferences.get(room) === conference) this.#conferences.delete(room);
          void this.#directory.releaseHome(room, this.#opts.node).catch(() => undefined);
        });
        return conference;
      })().finally(() => this.#opening.delete(room));
      this.#opening.set(room, pending);
    }
    return pending;
  }

  async #beat(): Promise<void> {
    await this.#registry.heartbeat({
      id: this.#opts.node,
      url: this.#opts.url,
      internal: this.#opts.internal,
      draining: this.#draining,
      ...this.load(),
    });
    await this.#directory.refreshHomes([...this.#conferences.keys()]);
  }
}

function sameLoad(a: NodeRecord, b: NodeRecord): boolean {
  return a.participants === b.participants && a.rooms === b.rooms && a.tracks === b.tracks;
}
