/**
 * Admin API benchmark: ListRooms and GetRoom latency over a directory of many rooms in two regions, and
 * WatchEvents delivery rate and lag (region → MirrorMaker 2 → core Kafka → core → subscriber).
 *
 *   npm run bench:admin -- [--rooms 10000] [--joins 20] [--calls 300]
 *
 * The rooms are written as room events (participant joined, two per room) into each region's
 * `room-events` topic, exactly as edges write them; they cross MirrorMaker 2 into the core like any
 * other. Joins for the lag figure are real: clients join rooms through the edges.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ulid } from 'ulid';
import { createKafka, KeyedProducer, ROOM_EVENTS_TOPIC } from '../../lib/kafka';
import { Envelope } from '../../proto/gen/meetview/events/v1/events';
import { Mesh, startEdges } from '../../regions/launcher';
import { startCore } from '../../regions/launcher/core';
import { AdminTestClient, eventually } from '../../test/services/admin/adminClient';
import { SignalingTestClient } from '../../test/support/SignalingTestClient';

const PORT_BASE = 17500;
const REGIONS = ['seoul', 'frankfurt'] as const;

const { values } = parseArgs({
  options: {
    rooms: { type: 'string', default: '10000' },
    joins: { type: 'string', default: '20' },
    calls: { type: 'string', default: '300' },
  },
});
const ROOMS = Number(values.rooms);
const JOINS = Number(values.joins);
const CALLS = Number(values.calls);
const PER_ROOM = 2;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}
const summary = (xs: number[]) => ({
  n: xs.length,
  p50: +pct(xs, 50).toFixed(2),
  p95: +pct(xs, 95).toFixed(2),
  p99: +pct(xs, 99).toFixed(2),
  max: +Math.max(...xs).toFixed(2),
});
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

const log = (line: string) => console.log(`[bench admin] ${line}`);
const mesh = await Mesh.start({ name: 'admin-bench', portBase: PORT_BASE, regions: [...REGIONS] });
const results: Record<string, unknown> = {
  rooms: ROOMS,
  participantsPerRoom: PER_ROOM,
  date: new Date().toISOString(),
};
try {
  const edges = await startEdges(mesh);
  const core = await startCore(mesh);
  const admin = new AdminTestClient(core.admin, { key: core.key, secret: core.secret });
  log(`mesh up; Admin API at ${core.admin}`);

  // 1. Seed: ROOMS rooms, half per region, PER_ROOM joined events each.
  const watcher = await admin.watch();
  const producers = await Promise.all(
    REGIONS.map(async (region) => {
      const kafka = createKafka({
        brokers: mesh.info.regions[region]!.kafka!.bootstrap,
        clientId: `bench-${region}`,
      });
      const p = new KeyedProducer(kafka);
      await p.connect();
      return p;
    }),
  );
  results.loadAverageAtStart = loadavg().map((l) => +l.toFixed(1));
  const seedStart = Date.now();
  const BATCH = 5000;
  for (let r = 0; r < ROOMS; r += BATCH) {
    await Promise.all(
      REGIONS.map((region, ri) => {
        const messages = [];
        for (let i = r; i < Math.min(ROOMS, r + BATCH); i++) {
          if (i % REGIONS.length !== ri) continue;
          const room = `bench-${String(i).padStart(6, '0')}`;
          const node = `${region}-edge-1`;
          for (let k = 0; k < PER_ROOM; k++) {
            const env: Envelope = {
              id: ulid(),
              room,
              originRegion: region,
              originNode: node,
              tsMs: Date.now(),
              payload: {
                $case: 'roomEvent',
                value: {
                  event: {
                    $case: 'participantJoined',
                    value: { participant: { identity: `u${k}`, name: `u${k}`, region, node } },
                  },
                },
              },
            };
            messages.push({ key: room, value: Buffer.from(Envelope.encode(env).finish()) });
          }
        }
        return producers[ri]!.send(ROOM_EVENTS_TOPIC, messages);
      }),
    );
  }
  const produced = ROOMS * PER_ROOM;
  log(`seeded ${produced} events in ${Date.now() - seedStart} ms`);
  await watcher.until((ev) => ev.length >= produced, 300_000, 'every seeded event at the watcher');
  const seeded = watcher.events.slice(0, produced);
  const first = seeded[0]!.receivedAt;
  const last = seeded.at(-1)!.receivedAt;
  results.watchSeed = {
    events: produced,
    deliverySeconds: (last - seedStart) / 1000,
    ratePerSecond: Math.round(produced / Math.max(0.001, (last - first) / 1000)),
    lagMs: summary(seeded.map((e) => e.receivedAt - e.envelope!.tsMs)),
  };
  log(`watch: ${JSON.stringify(results.watchSeed)}`);
  await eventually(
    async () => {
      const { rooms, nextPageToken } = await admin.call('listRooms', { pageSize: 1000, pageToken: '' });
      return rooms.length === 1000 && nextPageToken !== '';
    },
    60_000,
    'the directory filled',
  );

  // 2. ListRooms: first page of 100, random pages of 100 (by page token), and the full listing.
  const names = Array.from({ length: ROOMS }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
  const token = (after: string) => Buffer.from(`after:${after}`, 'utf8').toString('base64url');
  const firstPage: number[] = [];
  const randomPage: number[] = [];
  const getRoom: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    firstPage.push((await timed(() => admin.call('listRooms', { pageSize: 100, pageToken: '' })))[1]);
    const after = names[Math.floor(Math.random() * (ROOMS - 100))]!;
    randomPage.push(
      (await timed(() => admin.call('listRooms', { pageSize: 100, pageToken: token(after) })))[1],
    );
    const room = names[Math.floor(Math.random() * ROOMS)]!;
    const [res, ms] = await timed(() => admin.call('getRoom', { room }));
    if (res.room?.participants !== PER_ROOM)
      throw new Error(`${room}: ${res.room?.participants} participants`);
    getRoom.push(ms);
  }
  const full: number[] = [];
  let total = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    let pageToken = '';
    total = 0;
    do {
      const res = await admin.call('listRooms', { pageSize: 1000, pageToken });
      total += res.rooms.length;
      pageToken = res.nextPageToken;
    } while (pageToken);
    full.push(performance.now() - t);
  }
  results.listRoomsFirstPage100Ms = summary(firstPage);
  results.listRoomsRandomPage100Ms = summary(randomPage);
  results.listRoomsAllPages1000Ms = { ...summary(full), rooms: total };
  results.getRoomMs = summary(getRoom);
  log(`ListRooms first page: ${JSON.stringify(results.listRoomsFirstPage100Ms)}`);
  log(`ListRooms random page: ${JSON.stringify(results.listRoomsRandomPage100Ms)}`);
  log(`ListRooms all ${total} rooms: ${JSON.stringify(results.listRoomsAllPages1000Ms)}`);
  log(`GetRoom: ${JSON.stringify(results.getRoomMs)}`);

  // 3. Real joins through the edges: lag from the join request to the event at the core's subscriber.
  const joinLag: number[] = [];
  const edgeLag: number[] = [];
  const clients: SignalingTestClient[] = [];
  for (let i = 0; i < JOINS; i++) {
    const edge = edges[i % edges.length]!;
    const room = `live-${i}`;
    const { token: t } = await admin.call('createToken', {
      room,
      identity: `p${i}`,
      name: '',
      ttlSeconds: 600,
      grants: undefined,
    });
    const before = watcher.events.length;
    const sent = Date.now();
    const j = await SignalingTestClient.joinAnywhere(`${edge.url.replace('http', 'ws')}/rtc`, t);
    clients.push(j.client);
    await watcher.until(
      (ev) => ev.slice(before).some((e) => e.envelope!.room === room),
      30_000,
      `the join event of ${room}`,
    );
    const e = watcher.events.slice(before).find((x) => x.envelope!.room === room)!;
    joinLag.push(e.receivedAt - sent);
    edgeLag.push(e.receivedAt - e.envelope!.tsMs);
    await new Promise((r) => setTimeout(r, 200));
  }
  results.joinToWatchMs = summary(joinLag);
  results.edgeEventToWatchMs = summary(edgeLag);
  log(`join → WatchEvents: ${JSON.stringify(results.joinToWatchMs)}`);
  log(`edge event ts → WatchEvents: ${JSON.stringify(results.edgeEventToWatchMs)}`);
  for (const c of clients) c.close();
  watcher.cancel();
  admin.close();
  await Promise.all(producers.map((p) => p.disconnect()));

  results.loadAverage = loadavg().map((l) => +l.toFixed(1));
  const dir = join(new URL('.', import.meta.url).pathname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `admin-${ROOMS}-rooms.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results in ${file}`);
  log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  await mesh.stop();
}
process.exit(0);
