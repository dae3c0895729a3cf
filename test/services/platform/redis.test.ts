import Redis, { type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisCluster, roomKey } from '../../../lib/redis';
import { Mesh } from '../../../regions/launcher';

// One region's Redis Cluster from the real launcher: 6 redis-server processes, 3 masters + 3 replicas.
let mesh: Mesh;
let cluster: Cluster;

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-redis',
    portBase: 30000,
    regions: ['seoul'],
    core: false,
    kafka: false,
    onProgress: (l) => console.log(l),
  });
  cluster = createRedisCluster(mesh.info.regions.seoul!.redis!.nodes);
});

afterAll(async () => {
  cluster?.disconnect();
  await mesh?.stop();
});

/** A plain connection to one node (no cluster redirections): shows who really holds a key. */
async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

type SlotRange = { start: number; end: number; master: number };
async function slotRanges(port: number): Promise<SlotRange[]> {
  const raw = (await onNode(port, (r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number]][];
  return raw.map(([start, end, master]) => ({ start, end, master: master[1] }));
}
const ownerOf = (ranges: SlotRange[], slot: number) =>
  ranges.find((r) => slot >= r.start && slot <= r.end)!.master;

describe('Redis Cluster (seoul)', () => {
  it('puts all keys of a room, hash-tagged {room}, on the node that owns the slot', async () => {
    const ports = mesh.info.regions.seoul!.redis!.nodes.map((n) => n.port);
    const ranges = await slotRanges(ports[0]!);
    const masters = [...new Set(ranges.map((r) => r.master))];
    expect(masters).toHaveLength(3);
    const ownersSeen = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const room = `room-${i}`;
      const keys = [roomKey(room, 'participants'), roomKey(room, 'producers'), roomKey(room, 'chat')];
      await cluster.hset(keys[0]!, 'alice', 'edge-1');
      await cluster.hset(keys[1]!, 'p1', 'edge-1');
      await cluster.lpush(keys[2]!, 'hello');
      const slots = await Promise.all(
        keys.map((k) => onNode(ports[0]!, (r) => r.call('CLUSTER', 'KEYSLOT', k))),
      );
      expect(new Set(slots).size).toBe(1);
      const owner = ownerOf(ranges, Number(slots[0]));
      ownersSeen.add(owner);
      // The owner answers with the data itself; every other master redirects with MOVED to the owner.
      for (const key of keys) expect(await onNode(owner, (r) => r.exists(key))).toBe(1);
      for (const other of masters.filter((m) => m !== owner))
        await expect(onNode(other, (r) => r.exists(keys[0]!))).rejects.toThrow(
          new RegExp(`MOVED ${slots[0]} 127\\.0\\.0\\.1:${owner}`),
        );
      // Multi-key commands on one room work in the cluster because the keys share a slot.
      expect(await cluster.exists(...keys)).toBe(3);
    }
    // 40 rooms spread over more than one master.
    expect(ownersSeen.size).toBeGreaterThan(1);
  });

  it('rides through kill -9 of a master under steady writes: no error, no acknowledged write lost', async () => {
    const region = mesh.info.regions.seoul!;
    const anyPort = region.redis!.nodes[0]!.port;
    const rooms = Array.from({ length: 64 }, (_, i) => `load-${i}`);
    const roomSlot = new Map<string, number>();
    for (const room of rooms)
      roomSlot.set(
        room,
        Number(await onNode(anyPort, (r) => r.call('CLUSTER', 'KEYSLOT', roomKey(room, 'x')))),
      );

    const acked = new Map<string, string>();
    const errors: string[] = [];
    let seq = 0;
    let inFlight = 0;
    let maxLatency = 0;
    let stopLoad = false;
    let killAt = 0;
    let victimSlots: [number, number][] = [];
    let firstVictimAckAfterKill = 0;
    const pending = new Set<Promise<void>>();

    // ~250 writes/s, each its own command, as edges would issue them.
    const writer = (async () => {
      while (!stopLoad) {
        for (let k = 0; k < 5; k++) {
          const n = seq++;
          const room = rooms[n % rooms.length]!;
          const key = roomKey(room, 'w', String(n));
          const issued = Date.now();
          inFlight++;
          const p = cluster
            .set(key, String(n))
            .then(() => {
              const now = Date.now();
              acked.set(key, String(n));
              maxLatency = Math.max(maxLatency, now - issued);
              const slot = roomSlot.get(room)!;
              if (
                killAt > 0 &&
                issued >= killAt &&
                firstVictimAckAfterKill === 0 &&
                victimSlots.some(([a, b]) => slot >= a && slot <= b)
              )
                firstVictimAckAfterKill = now;
            })
            .catch((e: Error) => {
              errors.push(`${key}: ${e.message}`);
            })
            .finally(() => {
              inFlight--;
              pending.delete(p);
            });
          pending.add(p);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    await new Promise((r) => setTimeout(r, 2000));
    const before = acked.size;
    const victim = await mesh.killRedisMaster('seoul');
    killAt = Date.now();
    victimSlots = victim.slots.map((s) => s.split('-').map(Number) as [number, number]);
    console.log(
      `killed master 127.0.0.1:${victim.port} (slots ${victim.slots.join(' ')}) after ${before} acknowledged writes`,
    );

    // Promoted: one of its replicas is now a master serving its slots.
    const survivor = region.redis!.nodes.find((n) => n.port !== victim.port)!.port;
    let promotedAt = 0;
    while (Date.now() - killAt < 30_000) {
      const ranges = await slotRanges(survivor).catch(() => []);
      const owner = ranges.find((r) => r.start === victimSlots[0]![0])?.master;
      if (owner !== undefined && victim.replicas.includes(owner)) {
        promotedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(promotedAt, 'the replica was not promoted within 30 s').toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    stopLoad = true;
    await writer;
    await Promise.all([...pending]);

    const failover = promotedAt - killAt;
    const resumed = firstVictimAckAfterKill - killAt;
    console.log(
      `failover: replica promoted ${failover} ms after kill -9; writes to the lost master's slots resumed after ${resumed} ms; ` +
        `${seq} writes, ${acked.size} acknowledged, ${errors.length} errors, slowest acknowledged write ${maxLatency} ms`,
    );
    expect(errors, errors.slice(0, 5).join('\n')).toEqual([]);
    expect(
      firstVictimAckAfterKill,
      'no write to the failed slots was acknowledged after the kill',
    ).toBeGreaterThan(0);
    expect(acked.size).toBe(seq);

    // Every acknowledged write is there afterwards.
    const keys = [...acked.keys()];
    const missing: string[] = [];
    for (let i = 0; i < keys.length; i += 200) {
      const batch = keys.slice(i, i + 200);
      const values = await Promise.all(batch.map((k) => cluster.get(k)));
      values.forEach((v, j) => {
        if (v !== acked.get(batch[j]!)) missing.push(batch[j]!);
      });
    }
    expect(
      missing,
      `${missing.length} acknowledged writes missing, e.g. ${missing.slice(0, 5).join(', ')}`,
    ).toEqual([]);
    expect(inFlight).toBe(0);

    // The killed node comes back as a replica and the cluster is whole again.
    await mesh.restartRedisNode('seoul', victim.port);
    const start = Date.now();
    let healthy = false;
    while (!healthy && Date.now() - start < 20_000) {
      healthy = await mesh
        .redis('seoul')
        .healthy()
        .catch(() => false);
      if (!healthy) await new Promise((r) => setTimeout(r, 250));
    }
    expect(healthy).toBe(true);
    const topo = await mesh.redis('seoul').topology();
    expect(topo.find((m) => m.replicas.includes(victim.port))).toBeDefined();
  });
});
