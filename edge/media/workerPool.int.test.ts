import { afterEach, describe, expect, it } from 'vitest';
import { MediaError } from './MediaError';
import { PlainRtpEndpoint } from './PlainRtpEndpoint';
import type { Room } from './Room';
import { vp8RtpParameters } from './rtpParameters';
import { WorkerPool } from './WorkerPool';

// Real mediasoup workers (resolveWorkerBin(): `npm run setup` builds one offline).
// Fixed WebRtcServer ports stay below 32768, where no outgoing connection can hold them as its ephemeral port.
const BASE_PORT = 32120;
const RTC_PORTS = { min: 43400, max: 43599 };

function once<T extends unknown[]>(
  subscribe: (listener: (...args: T) => void) => void,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`event not emitted within ${timeoutMs} ms`)), timeoutMs);
    subscribe((...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

describe('WorkerPool', () => {
  let pool: WorkerPool | undefined;

  afterEach(() => {
    pool?.close();
    pool = undefined;
  });

  it('starts one worker per slot, each with a WebRtcServer on basePort + slot (UDP and TCP)', async () => {
    pool = await WorkerPool.create({ numWorkers: 2, basePort: BASE_PORT, rtcPortRange: RTC_PORTS });
    const workers = pool.workers();
    expect(workers.map((w) => w.index)).toEqual([0, 1]);
    for (const w of workers) {
      const dump = await pool.worker(w.index)!.webRtcServer.dump();
      expect(dump.udpSockets).toEqual([{ ip: '127.0.0.1', port: BASE_PORT + w.index }]);
      expect(dump.tcpServers).toEqual([{ ip: '127.0.0.1', port: BASE_PORT + w.index }]);
    }
    expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
  });

  it('announces the configured address in ICE candidates and plain transport tuples', async () => {
    pool = await WorkerPool.create({
      numWorkers: 1,
      basePort: BASE_PORT,
      rtcPortRange: RTC_PORTS,
      announcedAddress: 'media.example.test',
      logLevel: 'warn',
      logTags: ['ice', 'dtls'],
    });
    const room = await pool.createRoom({ roomId: 'announced' });
    const transport = await room.createWebRtcTransport({ peerId: 'alice' });
    expect(transport.iceCandidates.map((c) => [c.address, c.protocol, c.port]).sort()).toEqual([
      ['media.example.test', 'tcp', BASE_PORT],
      ['media.example.test', 'udp', BASE_PORT],
    ]);
    const plain = await room.createPlainTransport({ peerId: 'gst' });
    expect(plain.ip).toBe('media.example.test');
    expect(plain.port).toBeGreaterThanOrEqual(RTC_PORTS.min);
    expect(plain.port).toBeLessThanOrEqual(RTC_PORTS.max);
  });

  it('spreads rooms over workers and places by load, not only by room count', async () => {
    pool = await WorkerPool.create({
      numWorkers: 2,
      basePort: BASE_PORT,
      rtcPortRange: RTC_PORTS,
      loadSampleIntervalMs: 0,
    });
    const rooms: Room[] = [];
    for (let i = 0; i < 4; i++) rooms.push(await pool.createRoom({ roomId: `spread-${i}` }));
    expect(rooms.map((r) => r.workerIndex)).toEqual([0, 1, 0, 1]);
    expect(pool.workers().map((w) => w.rooms)).toEqual([2, 2]);

    // Make room 0 (worker 0) heavy: one producer and 25 consumers = 26 streams.
    const heavy = rooms[0]!;
    const ingress = await PlainRtpEndpoint.create(heavy, { comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 4242 }));
    for (let i = 0; i < 25; i++) {
      const out = await PlainRtpEndpoint.create(heavy, {
        peerId: `v${i}`,
        remote: { ip: '127.0.0.1', port: 9 },
      });
      await out.consume(producer.id);
    }
    expect(pool.workers()[0]!.streams).toBe(26);
    // Worker 0 scores 2 rooms × 10 + 26 streams = 46; worker 1 (2 rooms × 10 = 20) takes new rooms while
    // its score stays below that: at 20, 30, 40; at 50 worker 0 is the lighter one again.
    const next: number[] = [];
    for (let i = 0; i < 4; i++) next.push((await pool.createRoom({ roomId: `load-${i}` })).workerIndex);
    expect(next).toEqual([1, 1, 1, 0]);
  });

  it('replaces a worker killed with SIGKILL on the same ports and tells the owners of its rooms', async () => {
    pool = await WorkerPool.create({ numWorkers: 2, basePort: BASE_PORT, rtcPortRange: RTC_PORTS });
    const victim = await pool.createRoom({ roomId: 'victim' });
    const survivor = await pool.createRoom({ roomId: 'survivor' });
    expect(victim.workerIndex).not.toBe(survivor.workerIndex);
    await victim.createWebRtcTransport({ peerId: 'alice' });
    const index = victim.workerIndex;
    const oldPid = victim.workerPid;

    const p = pool;
    const roomDied = once<[Error]>((l) => victim.on('workerdied', l));
    const roomClosed = once<[string]>((l) => victim.on('close', l));
    const orphaned = once<[Room[], Error]>((l) => p.on('roomsorphaned', l));
    const replaced = once<[{ index: number; pid: number; previousPid: number }]>((l) =>
      p.on('workerreplaced', l),
    );
    process.kill(oldPid, 'SIGKILL');

    const [orphans] = await orphaned;
    expect(orphans).toEqual([victim]);
    const [error] = await roomDied;
    expect(error.message).toMatch(/SIGKILL/);
    expect(await roomClosed).toEqual(['workerdied']);
    expect(victim.closed).toBe(true);
    expect(pool.getRoom('victim')).toBeUndefined();
    await expect(victim.createWebRtcTransport({ peerId: 'bob' })).rejects.toMatchObject({
      name: 'MediaError',
      code: 'WORKER_DIED',
    });
    // The other worker's room is untouched.
    expect(survivor.closed).toBe(false);
    await survivor.createWebRtcTransport({ peerId: 'carol' });

    const [info] = await replaced;
    expect(info).toMatchObject({ index, previousPid: oldPid });
    expect(info.pid).not.toBe(oldPid);
    const dump = await pool.worker(index)!.webRtcServer.dump();
    expect(dump.udpSockets[0]?.port).toBe(BASE_PORT + index);
    expect(dump.tcpServers[0]?.port).toBe(BASE_PORT + index);

    // The owner recreates the room under the same id; it gets a working router again.
    const again = await pool.createRoom({ roomId: 'victim' });
    const transport = await again.createWebRtcTransport({ peerId: 'alice' });
    expect(transport.iceCandidates.map((c) => c.port)).toContain(BASE_PORT + again.workerIndex);
  });

  it('rejects bad pool and room parameters with MediaError', async () => {
    await expect(WorkerPool.create({ numWorkers: 0 })).rejects.toMatchObject({ code: 'BAD_PARAMETERS' });
    pool = await WorkerPool.create({ numWorkers: 1, basePort: BASE_PORT, rtcPortRange: RTC_PORTS });
    await pool.createRoom({ roomId: 'dup' });
    await expect(pool.createRoom({ roomId: 'dup' })).rejects.toMatchObject({ code: 'ROOM_EXISTS' });
    await expect(pool.createRoom({ roomId: '' })).rejects.toBeInstanceOf(MediaError);
    pool.close();
    await expect(pool.createRoom({ roomId: 'late' })).rejects.toMatchObject({ code: 'POOL_CLOSED' });
  });

  it('closing the pool closes its rooms with reason "poolclosed" and stops the worker processes', async () => {
    pool = await WorkerPool.create({ numWorkers: 2, basePort: BASE_PORT, rtcPortRange: RTC_PORTS });
    const room = await pool.createRoom({ roomId: 'bye' });
    const pids = pool.workers().map((w) => w.pid);
    const reasons: string[] = [];
    room.on('close', (r) => reasons.push(r));
    pool.close();
    expect(reasons).toEqual(['poolclosed']);
    // The worker processes exit once their channel closes; give a loaded machine a few seconds.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pids.filter(alive)).toEqual([]);
  });
});
