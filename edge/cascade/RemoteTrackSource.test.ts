import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import type { Room } from '../media/Room';
import { CascadeError } from './CascadeError';
import type { RelayClaim } from './RelayDirectory';
import type { RemoteProducerLease } from './RemoteProducerLease';
import { RemoteTrackSource } from './RemoteTrackSource';

// Plain fakes of the pipe manager and the relay directory (the real ones are exercised against real
// edges and Redis in test/services/cascade/relay.test.ts): this checks the decisions only.

type AcquireCall = { producerId: string; source: string; origin?: string };
type Listener = (arg: never) => void;

class FakePipes {
  readonly calls: AcquireCall[] = [];
  /** Nodes whose acquire fails (a relay that does not answer). */
  readonly failing = new Set<string>();
  readonly #listeners = new Map<string, Listener[]>();

  async acquire(o: { producerId: string; source: NodeRef; origin?: NodeRef }): Promise<RemoteProducerLease> {
    this.calls.push({
      producerId: o.producerId,
      source: o.source.node,
      ...(o.origin ? { origin: o.origin.node } : {}),
    });
    if (this.failing.has(o.source.node))
      throw new CascadeError(status.UNAVAILABLE, `${o.source.node} does not answer`);
    return { producerId: o.producerId, peer: o.source } as unknown as RemoteProducerLease;
  }

  hold(): undefined {
    return undefined;
  }

  on(event: string, listener: Listener): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return this;
  }

  emit(event: string, arg: unknown): void {
    for (const l of this.#listeners.get(event) ?? []) (l as (a: unknown) => void)(arg);
  }
}

class FakeRelays {
  readonly claims = new Map<string, string>();
  refreshes = 0;

  async claim(room: string, producerId: string, node: string): Promise<RelayClaim> {
    const key = `${room}/${producerId}`;
    const holder = this.claims.get(key) ?? node;
    this.claims.set(key, holder);
    return { relay: holder, mine: holder === node };
  }

  async refresh(room: string, producerId: string, node: string): Promise<boolean> {
    this.refreshes++;
    return this.claims.get(`${room}/${producerId}`) === node;
  }

  async release(room: string, producerId: string, node: string): Promise<void> {
    const key = `${room}/${producerId}`;
    if (this.claims.get(key) === node) this.claims.delete(key);
  }
}

const room = { id: 'r' } as Room;
const owner: NodeRef = { node: 'seoul-edge-1', region: 'seoul', address: '10.0.0.1:7000' };
const b1: NodeRef = { node: 'fra-edge-1', region: 'frankfurt', address: '10.0.1.1:7000' };
const b2: NodeRef = { node: 'fra-edge-2', region: 'frankfurt', address: '10.0.1.2:7000' };
const sources: RemoteTrackSource[] = [];

function setup(o: { node?: string; live?: NodeRef[]; refreshMs?: number } = {}) {
  const pipes = new FakePipes();
  const relays = new FakeRelays();
  const live = new Map((o.live ?? [b1, b2]).map((n) => [n.node, n]));
  const source = new RemoteTrackSource({
    node: o.node ?? b2.node,
    region: 'frankfurt',
    pipes: pipes as never,
    relays,
    locate: async (id) => live.get(id),
    refreshMs: o.refreshMs ?? 60_000,
  });
  sources.push(source);
  return { pipes, relays, live, source };
}

afterEach(async () => {
  for (const s of sources.splice(0)) await s.close();
});

describe('RemoteTrackSource', () => {
  it('pipes a track of its own region straight from the owner edge, with no relay claim', async () => {
    const { pipes, relays, source } = setup();
    await source.acquire(room, 'p1', b1);
    expect(pipes.calls).toEqual([{ producerId: 'p1', source: 'fra-edge-1' }]);
    expect(relays.claims.size).toBe(0);
  });

  it('the first claimer pipes from the owner and is the relay; the claim goes with its copy', async () => {
    const { pipes, relays, source } = setup();
    await source.acquire(room, 'p1', owner);
    expect(pipes.calls).toEqual([{ producerId: 'p1', source: 'seoul-edge-1' }]);
    expect(relays.claims.get('r/p1')).toBe('fra-edge-2');
    expect(source.originCopies()).toEqual([
      { room: 'r', producerId: 'p1', owner: 'seoul-edge-1', relay: true },
    ]);
    // A copy from elsewhere ending does not touch it; the copy from the owner ending releases it.
    pipes.emit('unpiped', { room: 'r', producerId: 'p1', peer: 'fra-edge-1' });
    expect(relays.claims.get('r/p1')).toBe('fra-edge-2');
    pipes.emit('unpiped', { room: 'r', producerId: 'p1', peer: 'seoul-edge-1' });
    await Promise.resolve();
    expect(relays.claims.has('r/p1')).toBe(false);
    expect(source.originCopies()).toEqual([]);
  });

  it('pipes from the region’s relay, naming the owner as origin, when another edge holds the claim', async () => {
    const { pipes, relays, source } = setup();
    relays.claims.set('r/p1', 'fra-edge-1');
    await source.acquire(room, 'p1', owner);
    expect(pipes.calls).toEqual([{ producerId: 'p1', source: 'fra-edge-1', origin: 'seoul-edge-1' }]);
    expect(source.originCopies()).toEqual([]);
  });

  it('falls back to the owner when the relay is not live, and claims the relay once its claim is gone', async () => {
    const { pipes, relays, source } = setup({ live: [b2], refreshMs: 20 });
    relays.claims.set('r/p1', 'fra-edge-1');
    await source.acquire(room, 'p1', owner);
    expect(pipes.calls).toEqual([{ producerId: 'p1', source: 'seoul-edge-1' }]);
    expect(source.originCopies()).toEqual([
      { room: 'r', producerId: 'p1', owner: 'seoul-edge-1', relay: false },
    ]);
    // The dead relay's claim expires: this edge, which has a copy from the owner, takes it over.
    relays.claims.delete('r/p1');
    await expect.poll(() => source.originCopies()[0]?.relay, { timeout: 1000 }).toBe(true);
    expect(relays.claims.get('r/p1')).toBe('fra-edge-2');
    const before = relays.refreshes;
    await expect.poll(() => relays.refreshes, { timeout: 1000 }).toBeGreaterThan(before);
    expect(relays.claims.get('r/p1')).toBe('fra-edge-2');
  });

  it('falls back to the owner when the relay fails to answer, or was lost to the cascade lately', async () => {
    const { pipes, relays, source } = setup();
    relays.claims.set('r/p1', 'fra-edge-1');
    pipes.failing.add('fra-edge-1');
    await source.acquire(room, 'p1', owner);
    expect(pipes.calls).toEqual([
      { producerId: 'p1', source: 'fra-edge-1', origin: 'seoul-edge-1' },
      { producerId: 'p1', source: 'seoul-edge-1' },
    ]);

    pipes.calls.length = 0;
    pipes.failing.clear();
    relays.claims.set('r/p2', 'fra-edge-1');
    pipes.emit('peerlost', { peer: b1 });
    await source.acquire(room, 'p2', owner);
    // Not even tried: its claim may outlive it by the lease time.
    expect(pipes.calls).toEqual([{ producerId: 'p2', source: 'seoul-edge-1' }]);
  });

  it('gives the claim back when piping from the owner fails', async () => {
    const { pipes, relays, source } = setup();
    pipes.failing.add('seoul-edge-1');
    await expect(source.acquire(room, 'p1', owner)).rejects.toBeInstanceOf(CascadeError);
    await Promise.resolve();
    expect(relays.claims.has('r/p1')).toBe(false);
    expect(source.originCopies()).toEqual([]);
  });
});
