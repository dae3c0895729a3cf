import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import type { Room } from '../media/Room';
import { CascadeError } from './CascadeError';
import type { PipeManager } from './PipeManager';
import type { RelayClaim, RelayDirectory } from './RelayDirectory';
import type { RemoteProducerLease } from './RemoteProducerLease';

export type RemoteTrackSourceOptions = {
  /** This edge's node id (its relay claims name it) and region. */
  node: string;
  region: string;
  pipes: Pick<PipeManager, 'acquire' | 'hold' | 'on'>;
  relays: Pick<RelayDirectory, 'claim' | 'refresh' | 'release'>;
  /** A live edge of this region by node id (its heartbeat), or undefined: how a relay is reached. */
  locate: (node: string) => Promise<NodeRef | undefined>;
  /** How often held claims are refreshed and unclaimed copies try to claim. Default 5000 ms (a third of the claim's lease). */
  refreshMs?: number;
  /** How long an edge lost to the cascade is not piped from as a relay. Default 15000 ms (its claim's lease). */
  lostRelayMs?: number;
};

/** A copy of another region's track piped into a room here straight from its owner edge. */
type OriginCopy = { key: string; room: string; producerId: string; owner: string; mine: boolean };

export type OriginCopyInfo = { room: string; producerId: string; owner: string; relay: boolean };

/**
 * Decides where a remote track is piped from, so each track crosses into this region once:
 *
 * - an owner in this region: straight from the owner (plain RTP);
 * - an owner in another region: the region's relay for the track (RelayDirectory). The first edge that
 *   claims it pipes from the owner and is the relay; the others pipe from the relay with
 *   `origin` = owner. A relay that is not live (no heartbeat, or lost to the cascade lately: its claim
 *   outlives it by the lease time) or that fails to answer is skipped, and the track is piped from the
 *   owner instead.
 *
 * A claim follows the copy it stands for: it is refreshed every `refreshMs` while a producer piped from
 * the owner exists here (held by this edge's viewers, or by the CascadeService serving it on to the
 * region's other edges), and released as soon as that copy is gone (PipeManager 'unpiped'). A copy piped
 * from the owner without the claim (the fall-back) tries to claim it on every tick, so the region gets a
 * relay again once the dead one's claim has expired.
 */
export class RemoteTrackSource {
  readonly #opts: RemoteTrackSourceOptions;
  readonly #copies = new Map<string, OriginCopy>();
  /** Edges lost to the cascade (node → when). */
  readonly #lost = new Map<string, number>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #timer: NodeJS.Timeout;
  #ticking = false;
  #closed = false;

  constructor(opts: RemoteTrackSourceOptions) {
    this.#opts = opts;
    opts.pipes.on('unpiped', ({ room, producerId, peer }) => {
      const copy = this.#copies.get(keyOf(room, producerId));
      if (copy && copy.owner === peer) this.#forget(copy);
    });
    opts.pipes.on('peerlost', ({ peer }) => this.#lost.set(peer.node, Date.now()));
    this.#timer = setInterval(() => void this.#tick(), opts.refreshMs ?? 5000);
    this.#timer.unref();
  }

  /** A hold on `producerId` (owned by `owner`) piped into `room`, from the owner or the region's relay. */
  async acquire(room: Room, producerId: string, owner: NodeRef): Promise<RemoteProducerLease> {
    const { pipes, relays, node } = this.#opts;
    if (owner.region === this.#opts.region) return pipes.acquire({ room, producerId, source: owner });
    // Already here (from the owner or a relay): one copy per room and edge, no claim needed.
    const held = pipes.hold(room, producerId);
    if (held) return held;
    let claim: RelayClaim | undefined;
    try {
      claim = await relays.claim(room.id, producerId, node);
    } catch (err) {
      console.error(
        `[cascade ${node}] relay claim for ${producerId}: ${(err as Error).message}; piping from the owner`,
      );
    }
    if (claim && !claim.mine) {
      const relay = await this.#relayRef(claim.relay);
      if (relay)
        try {
          return await pipes.acquire({ room, producerId, source: relay, origin: owner });
        } catch (err) {
          if (!(err instanceof CascadeError)) throw err;
          console.error(
            `[cascade ${node}] relay ${relay.node} for ${producerId}: ${err.message}; piping from the owner`,
          );
        }
    }
    const key = keyOf(room.id, producerId);
    const copy: OriginCopy = {
      key,
      room: room.id,
      producerId,
      owner: owner.node,
      mine: claim?.mine ?? false,
    };
    const previous = this.#copies.get(key);
    if (previous) copy.mine ||= previous.mine;
    this.#copies.set(key, copy);
    try {
      return await pipes.acquire({ room, producerId, source: owner });
    } catch (err) {
      // Nothing was piped: no copy stands behind the claim.
      this.#forget(copy);
      throw err;
    }
  }

  /** The copies piped here from another region's owner, and whether this edge holds their relay claim. */
  originCopies(): OriginCopyInfo[] {
    return [...this.#copies.values()].map((c) => ({
      room: c.room,
      producerId: c.producerId,
      owner: c.owner,
      relay: c.mine,
    }));
  }

  /** Stops refreshing and gives back every claim held (the copies go with the edge's pipes). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const copy of [...this.#copies.values()]) this.#forget(copy);
    await Promise.allSettled([...this.#pending]);
  }

  async #relayRef(relay: string): Promise<NodeRef | undefined> {
    if (relay === this.#opts.node) return undefined;
    const lostAt = this.#lost.get(relay);
    if (lostAt !== undefined) {
      if (Date.now() - lostAt < (this.#opts.lostRelayMs ?? 15_000)) return undefined;
      this.#lost.delete(relay);
    }
    try {
      return await this.#opts.locate(relay);
    } catch {
      return undefined;
    }
  }

  #forget(copy: OriginCopy): void {
    if (this.#copies.get(copy.key) !== copy) return;
    this.#copies.delete(copy.key);
    if (copy.mine) this.#track(this.#opts.relays.release(copy.room, copy.producerId, this.#opts.node));
  }

  /** Refreshes the claims held; an unclaimed copy from the owner claims the relay when it is free. */
  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    const { relays, node } = this.#opts;
    try {
      for (const copy of [...this.#copies.values()]) {
        try {
          const kept = copy.mine && (await relays.refresh(copy.room, copy.producerId, node));
          if (kept) continue;
          const claim = await relays.claim(copy.room, copy.producerId, node);
          if (this.#copies.get(copy.key) === copy) copy.mine = claim.mine;
          // The copy went while claiming: give the claim back.
          else if (claim.mine) await relays.release(copy.room, copy.producerId, node);
        } catch (err) {
          console.error(`[cascade ${node}] relay claim of ${copy.producerId}: ${(err as Error).message}`);
        }
      }
    } finally {
      this.#ticking = false;
    }
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch((err: Error) =>
      console.error(`[cascade ${this.#opts.node}] relay release: ${err.message}`),
    );
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }
}

function keyOf(room: string, producerId: string): string {
  return `${room}\u0000${producerId}`;
}
