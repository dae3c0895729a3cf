import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteRoomFeed } from '../../../edge/events/RemoteRoomFeed';
import { RoomEventLog } from '../../../edge/events/RoomEventLog';
import { createKafka, KeyedProducer, mirroredTopic, ROOM_EVENTS_TOPIC } from '../../../lib/kafka';
import { Envelope } from '../../../proto/gen/meetview/events/v1/events';
import type { ParticipantInfo } from '../../../proto/signaling/messages';
import { Mesh } from '../../../regions/launcher';

// Two regions' Kafka brokers and MirrorMaker 2 (no Redis, no edges): frankfurt's room events are
// written by the edge's own RoomEventLog, mirrored into seoul as `frankfurt.room-events`, and folded
// there by the RemoteRoomFeed that seoul's edges run.
const PORT_BASE = 13000;
const MIRRORED = mirroredTopic('frankfurt', ROOM_EVENTS_TOPIC);
let mesh: Mesh;
let seoulKafka: Kafka;
let frankfurtKafka: Kafka;
let log: RoomEventLog;
let raw: KeyedProducer;
let feed: RemoteRoomFeed | undefined;

const person = (identity: string): ParticipantInfo => ({
  identity,
  name: identity.toUpperCase(),
  region: 'frankfurt',
  node: 'frankfurt-edge-1',
  joinedAt: Date.now(),
});

/** Records in seoul's mirror of frankfurt's room events. */
async function mirroredCount(): Promise<number> {
  const admin = seoulKafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(MIRRORED)) return 0;
    const offsets = await admin.fetchTopicOffsets(MIRRORED);
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function waitMirrored(count: number): Promise<void> {
  await expect.poll(mirroredCount, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(count);
}

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-room-feed',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
    redis: false,
  });
  seoulKafka = createKafka({ brokers: mesh.info.regions.seoul!.kafka!.bootstrap, clientId: 'test-seoul' });
  frankfurtKafka = createKafka({
    brokers: mesh.info.regions.frankfurt!.kafka!.bootstrap,
    clientId: 'test-frankfurt',
  });
  log = new RoomEventLog(frankfurtKafka, 'frankfurt', 'frankfurt-edge-1', '127.0.0.1:14999');
  await log.connect();
  raw = new KeyedProducer(frankfurtKafka);
  await raw.connect();
});

afterAll(async () => {
  await feed?.close();
  await log?.close();
  await raw?.disconnect().catch(() => undefined);
  await mesh?.stop();
});

describe('RemoteRoomFeed: other regions’ room events, mirrored and folded', () => {
  const changed: string[] = [];

  it('reads the history at start silently, then names each room it changed once', async () => {
    const ana = person('ana');
    const bo = person('bo');
    const cy = person('cy');
    log.joined('r1', ana);
    log.published('r1', ana, { producerId: 'p-ana-cam', kind: 'video', source: 'camera', paused: false });
    log.joined('r1', bo);
    log.left('r1', bo, 'left');
    log.joined('r2', cy);
    log.left('r2', cy, 'timeout');
    await waitMirrored(6);

    feed = new RemoteRoomFeed(seoulKafka, {
      region: 'seoul',
      node: 'seoul-test',
      // Its own region is skipped; a region without a mirror (the core here) is looked for, not waited on.
      sources: ['seoul', 'frankfurt', 'core'],
      discoverMs: 500,
    });
    feed.on('changed', (room) => changed.push(room));
    const caughtUp = new Promise<string>((resolve) => feed!.once('caughtup', resolve));
    await feed.start();
    expect(await caughtUp).toBe('frankfurt');

    // Only who is present now: bo left, and r2 is empty and forgotten.
    const r1 = feed.state.room('r1');
    expect([...r1.participants.keys()]).toEqual(['ana']);
    expect(r1.participants.get('ana')?.owner).toEqual({
      node: 'frankfurt-edge-1',
      region: 'frankfurt',
      address: '127.0.0.1:14999',
    });
    expect(r1.tracks.get('p-ana-cam')?.track).toEqual({
      producerId: 'p-ana-cam',
      identity: 'ana',
      kind: 'video',
      source: 'camera',
      paused: false,
    });
    expect(feed.state.roomCount).toBe(1);
    // One 'changed' per room touched during the catch-up, not one per event.
    expect([...changed].sort()).toEqual(['r1', 'r2']);
  });

  it('follows live events once caught up, as they cross the mirror', async () => {
    changed.length = 0;
    const started = Date.now();
    log.muted('r1', person('ana'), 'p-ana-cam', true);
    await expect
      .poll(() => feed!.state.room('r1').tracks.get('p-ana-cam')?.track.paused, {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(true);
    console.log(`a frankfurt room event reached seoul's fold in ${Date.now() - started} ms`);
    expect(changed).toEqual(['r1']);

    log.unpublished('r1', person('ana'), 'p-ana-cam');
    log.closed('r1', 'empty');
    await expect.poll(() => feed!.state.roomCount, { timeout: 30_000, interval: 50 }).toBe(0);
    expect(feed!.state.room('r1').leftReason('ana')).toBe('room closed');
  });

  it('drops a duplicate record (same envelope id), even one that arrives after a later event', async () => {
    changed.length = 0;
    const envelope = (id: string, event: 'join' | 'leave'): Envelope => ({
      id,
      room: 'r3',
      originRegion: 'frankfurt',
      originNode: 'frankfurt-edge-1',
      tsMs: Date.now(),
      payload: {
        $case: 'roomEvent',
        value: {
          event:
            event === 'join'
              ? {
                  $case: 'participantJoined',
                  value: {
                    participant: {
                      identity: 'dan',
                      name: 'Dan',
                      region: 'frankfurt',
                      node: 'frankfurt-edge-1',
                    },
                  },
                }
              : {
                  $case: 'participantLeft',
                  value: {
                    participant: {
                      identity: 'dan',
                      name: 'Dan',
                      region: 'frankfurt',
                      node: 'frankfurt-edge-1',
                    },
                    reason: 'left',
                  },
                },
        },
      },
    });
    const bytes = (e: Envelope) => Buffer.from(Envelope.encode(e).finish());
    const join = bytes(envelope('dup-join-1', 'join'));
    const before = await mirroredCount();
    // A producer retry's copy of the join, written after the leave: without the id check dan would be back.
    await raw.send(ROOM_EVENTS_TOPIC, [
      { key: 'r3', value: join },
      { key: 'r3', value: bytes(envelope('dup-leave-1', 'leave')) },
      { key: 'r3', value: join },
    ]);
    await waitMirrored(before + 3);
    await expect.poll(() => changed.length, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    // Give the third record time to be folded too (it is behind the other two in the same partition).
    await new Promise((r) => setTimeout(r, 1000));
    expect(changed).toEqual(['r3', 'r3']);
    expect(feed!.state.room('r3').participants.has('dan')).toBe(false);
  });
});
