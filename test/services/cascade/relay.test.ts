import type { types } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { PlainRtpEndpoint } from '../../../edge/media/PlainRtpEndpoint';
import { UdpSink } from '../../../edge/media/UdpSink';
import type { ResponseData } from '../../../proto/signaling/messages';
import { Mesh } from '../../../regions/launcher';
import { EdgeProcess } from '../../support/EdgeProcess';
import { startTestEdge, testTokens } from '../../support/edgeFixture';
import { type PlainPublication, publishPlainVideo } from '../../support/plainPublisher';
import { SignalingTestClient } from '../../support/SignalingTestClient';

// Two regions (Redis, Kafka, MirrorMaker 2 from the launcher; port base 10000): one edge in seoul (A),
// two in frankfurt (B) with placement 'local', so both B edges host the room. All in this process, so
// the test can read each edge's pipes and mediasoup counters. The publishers' RTP is a synthetic VP8
// stream over a PlainTransport, published through the conference (test/support/plainPublisher.ts); the
// subscribers are signaling clients, whose consume makes the edges pipe the track.
const PORT_BASE = 10000;
const ROOM = 'relay-room';
const ALICE_SSRC = 51_000_001;
const DORA_SSRC = 52_000_001;

let mesh: Mesh;
let a: EdgeNode;
let b1: EdgeNode;
let b2: EdgeNode;
let crashing: EdgeProcess | undefined;
const clients: SignalingTestClient[] = [];
const owned: { close(): void }[] = [];

type Joined = { identity: string; client: SignalingTestClient; join: ResponseData['join'] };

async function join(edge: Pick<EdgeNode, 'url'>, identity: string): Promise<Joined> {
  const { token } = await testTokens.mint({ room: ROOM, identity, name: identity.toUpperCase() });
  const r = await SignalingTestClient.joinAnywhere(`${edge.url.replace('http', 'ws')}/rtc`, token);
  expect(r.redirected).toBe(false);
  clients.push(r.client);
  return { identity, client: r.client, join: r.join };
}

/** Waits until `who` has been shown the track (in its join snapshot or as a notification). */
async function seesTrack(who: Joined, producerId: string): Promise<void> {
  if (who.join.tracks.some((t) => t.producerId === producerId)) return;
  await who.client.waitFor('track.published', (d) => d.track.producerId === producerId, 30_000);
}

/** Waits until `who` has been shown `identity`; returns what it was told. */
async function seesParticipant(who: Joined, identity: string) {
  return (
    who.join.participants.find((p) => p.identity === identity) ??
    (await who.client.waitFor('participant.joined', (d) => d.participant.identity === identity, 30_000))
      .participant
  );
}

const withRecv = new WeakSet<Joined>();

/** A resumed consumer of `producerId` (and the client's recv transport, on its first consume). */
async function consume(who: Joined, producerId: string) {
  await seesTrack(who, producerId);
  if (!withRecv.has(who)) {
    await who.client.request('transport.create', { direction: 'recv' });
    withRecv.add(who);
  }
  const consumer = await who.client.request(
    'consume',
    { producerId, rtpCapabilities: who.join.routerRtpCapabilities as Record<string, unknown> },
    20_000,
  );
  await who.client.request('consumer.resume', { consumerId: consumer.consumerId });
  return consumer;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inRegionB = (node: string) => node.startsWith('frankfurt-');
const roomPipes = (edge: EdgeNode) =>
  edge.pipes
    .pipes()
    .filter((p) => p.room === ROOM)
    .map((p) => ({ peer: p.peer, srtp: p.srtp, producers: p.producers.map((x) => x.producerId) }));
/** The pipes the seoul edge serves towards region B's edges in the room. */
const pipesFromAToB = () => a.cascade.pipes().filter((p) => p.room === ROOM && inRegionB(p.callerNode));

/** Counters on the seoul edge: the producer's bytes in, and the RTP bytes sent into pipes towards B. */
async function readA(producerId: string) {
  const origin = a.pool.getRoom(ROOM)!;
  const toB = pipesFromAToB();
  const [[stat], sent] = await Promise.all([
    origin.getProducerStats(producerId),
    Promise.all(toB.map((p) => origin.getTransportStats(p.transportId).catch(() => []))).then((all) =>
      all.reduce((sum, s) => sum + ((s[0] as types.PipeTransportStat | undefined)?.rtpBytesSent ?? 0), 0),
    ),
  ]);
  return { at: performance.now(), producerBytes: stat?.byteCount ?? 0, sentToB: sent, pipes: toB.length };
}

/** Bytes per second the producer received and the seoul edge sent towards region B, over `ms`. */
async function crossingRate(producerId: string, ms = 3000) {
  const r0 = await readA(producerId);
  await sleep(ms);
  const r1 = await readA(producerId);
  const s = (r1.at - r0.at) / 1000;
  return {
    producerPerSecond: (r1.producerBytes - r0.producerBytes) / s,
    toBPerSecond: (r1.sentToB - r0.sentToB) / s,
    pipes: Math.max(r0.pipes, r1.pipes),
  };
}

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-cascade-relay',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
  });
  const block = (region: string) =>
    mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === region)!.index);
  a = await startTestEdge(mesh.info, {
    region: 'seoul',
    index: 1,
    httpPort: block('seoul') + 50,
    rtcPort: block('seoul') + 70,
  });
  [b1, b2] = (await Promise.all(
    [1, 2].map((index) =>
      startTestEdge(mesh.info, {
        region: 'frankfurt',
        index,
        httpPort: block('frankfurt') + 49 + index,
        rtcPort: block('frankfurt') + 68 + 2 * index,
        placement: 'local',
      }),
    ),
  )) as [EdgeNode, EdgeNode];
});

afterAll(async () => {
  for (const o of owned) o.close();
  for (const c of clients) c.close();
  await crashing?.stop();
  await Promise.all([a, b1, b2].map((e) => e?.close()));
  await mesh?.stop();
});

describe('relays: one copy of a track per region, and edges of one region sharing a room', () => {
  let alice: PlainPublication;
  const bViewers: Joined[] = [];

  it('shows the participants of one region’s two edges to each other', async () => {
    // Three viewers on frankfurt-edge-1, two on frankfurt-edge-2; all in the same room (placement local).
    for (const [edge, identity] of [
      [b1, 'v1'],
      [b1, 'v2'],
      [b1, 'v3'],
      [b2, 'v4'],
      [b2, 'v5'],
    ] as const)
      bViewers.push(await join(edge, identity));
    expect(b1.manager.get(ROOM)?.participantCount).toBe(3);
    expect(b2.manager.get(ROOM)?.participantCount).toBe(2);
    const [v1, , , v4] = bViewers as [Joined, Joined, Joined, Joined, Joined];
    expect(await seesParticipant(v4, 'v1')).toMatchObject({
      name: 'V1',
      region: 'frankfurt',
      node: 'frankfurt-edge-1',
    });
    expect(await seesParticipant(v1, 'v5')).toMatchObject({
      name: 'V5',
      region: 'frankfurt',
      node: 'frankfurt-edge-2',
    });
  });

  it('brings a seoul track into frankfurt once for five viewers on two edges: edge 2 pipes it from edge 1', async () => {
    const pub = await join(a, 'alice');
    alice = await publishPlainVideo(a, ROOM, 'alice', { ssrc: ALICE_SSRC });
    owned.push(alice);
    const { producerId } = alice;
    await seesParticipant(bViewers[0]!, 'alice');
    await seesParticipant(pub, 'v4');

    // The first viewer makes its edge the region's relay; the others then come from both edges at once.
    await consume(bViewers[0]!, producerId);
    await Promise.all(bViewers.slice(1).map((v) => consume(v, producerId)));

    // Exactly one pipe from seoul into frankfurt, to the relay; the other B edge pipes from the relay.
    expect(pipesFromAToB().map((p) => ({ caller: p.callerNode, producers: p.producers }))).toEqual([
      { caller: 'frankfurt-edge-1', producers: [producerId] },
    ]);
    expect(roomPipes(b1)).toEqual([{ peer: 'seoul-edge-1', srtp: true, producers: [producerId] }]);
    expect(roomPipes(b2)).toEqual([{ peer: 'frankfurt-edge-1', srtp: false, producers: [producerId] }]);
    expect(b1.cascade.pipes().filter((p) => p.room === ROOM)).toEqual([
      expect.objectContaining({ callerNode: 'frankfurt-edge-2', producers: [producerId] }),
    ]);
    expect(b1.tracks.originCopies()).toEqual([
      { room: ROOM, producerId, owner: 'seoul-edge-1', relay: true },
    ]);
    expect(b2.tracks.originCopies()).toEqual([]);

    // The media does arrive on the second edge, through the relay.
    const b2Copy = b2.pool.getRoom(ROOM)!;
    const before = (await b2Copy.getProducerStats(producerId))[0]?.byteCount ?? 0;
    await sleep(1000);
    const after = (await b2Copy.getProducerStats(producerId))[0]?.byteCount ?? 0;
    expect(after - before).toBeGreaterThan(20_000);

    // The bytes seoul sends into frankfurt are one copy of what the producer receives.
    const rate = await crossingRate(producerId);
    console.log(
      `[relay test] producer ${Math.round(rate.producerPerSecond)} B/s; seoul → frankfurt ${Math.round(rate.toBPerSecond)} B/s over ${rate.pipes} pipe(s) (5 viewers on 2 edges)`,
    );
    expect(rate.pipes).toBe(1);
    expect(rate.producerPerSecond).toBeGreaterThan(50_000);
    expect(rate.toBPerSecond / rate.producerPerSecond).toBeGreaterThan(0.85);
    expect(rate.toBPerSecond / rate.producerPerSecond).toBeLessThan(1.2);
  });

  it('a sixth viewer in frankfurt does not add to the bytes crossing from seoul', async () => {
    const { producerId } = alice;
    const before = await crossingRate(producerId);
    const v6 = await join(b2, 'v6');
    bViewers.push(v6);
    await consume(v6, producerId);
    await sleep(500);
    const after = await crossingRate(producerId);
    console.log(
      `[relay test] seoul → frankfurt ${Math.round(before.toBPerSecond)} B/s with 5 viewers, ${Math.round(after.toBPerSecond)} B/s with 6`,
    );
    expect(after.pipes).toBe(1);
    expect(after.toBPerSecond / after.producerPerSecond).toBeLessThan(1.2);
    expect(after.toBPerSecond / before.toBPerSecond).toBeLessThan(1.15);
    expect(roomPipes(b2)).toEqual([{ peer: 'frankfurt-edge-1', srtp: false, producers: [producerId] }]);
  });

  it('plays a track published on frankfurt-edge-2 for a viewer on frankfurt-edge-1 through a plain pipe', async () => {
    const dora = await join(b2, 'dora');
    const track = await publishPlainVideo(b2, ROOM, 'dora', { ssrc: DORA_SSRC, pps: 60 });
    owned.push(track);
    const v1 = bViewers[0]!;
    await seesParticipant(v1, 'dora');
    await seesParticipant(dora, 'v2');
    await consume(v1, track.producerId);
    // In-region: from the owner edge directly, plain RTP, no relay claim.
    expect(roomPipes(b1)).toEqual(
      expect.arrayContaining([{ peer: 'frankfurt-edge-2', srtp: false, producers: [track.producerId] }]),
    );
    expect(b2.cascade.pipes().filter((p) => p.room === ROOM)).toEqual([
      expect.objectContaining({ callerNode: 'frankfurt-edge-1', producers: [track.producerId] }),
    ]);
    expect(b1.tracks.originCopies().map((c) => c.producerId)).toEqual([alice.producerId]);
    // The piped copy on edge 1 carries the stream: a consumer of it there receives its packets.
    const sink = await UdpSink.bind();
    const out = await PlainRtpEndpoint.create(b1.pool.getRoom(ROOM)!, {
      peerId: 'sink',
      remote: sink.address,
    });
    owned.push(sink, out);
    const c = await out.consume(track.producerId);
    await sink.waitForPackets(30, 10_000, c.rtpParameters.encodings![0]!.ssrc!);
  });

  it('hides the participants of a crashed edge that nobody piped from', async () => {
    // A second seoul edge in its own process; its participant is shown in frankfurt, nothing is piped
    // from it, and it dies by SIGKILL: no leave is ever written, only the cascade's Watch can tell.
    const block = mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === 'seoul')!.index);
    crashing = await EdgeProcess.start(mesh.info, {
      region: 'seoul',
      index: 2,
      httpPort: block + 51,
      rtcPort: block + 72,
      placement: 'local',
    });
    const zed = await join(crashing, 'zed');
    const [v1, , , v4] = bViewers as [Joined, Joined, Joined, Joined];
    expect(await seesParticipant(v1, 'zed')).toMatchObject({ region: 'seoul', node: 'seoul-edge-2' });
    expect(await seesParticipant(v4, 'zed')).toMatchObject({ region: 'seoul', node: 'seoul-edge-2' });
    for (const edge of [b1, b2]) expect(roomPipes(edge).map((p) => p.peer)).not.toContain('seoul-edge-2');

    crashing.kill();
    const killedAt = Date.now();
    const [left1, left4] = await Promise.all(
      [v1, v4].map((v) => v.client.waitFor('participant.left', (d) => d.identity === 'zed', 20_000)),
    );
    console.log(
      `[relay test] a crashed edge's participant hidden in frankfurt after ${Date.now() - killedAt} ms`,
    );
    expect(left1?.reason).toBe('edge lost');
    expect(left4?.reason).toBe('edge lost');
    zed.client.close();
    for (const edge of [b1, b2])
      expect(edge.manager.get(ROOM)?.remoteState().participants).not.toContain('zed');
  });

  it('when the relay edge closes the room, the other edge’s viewers get the track again, from seoul', async () => {
    const { producerId } = alice;
    const [v1, v2, v3, v4, v5] = bViewers as [Joined, Joined, Joined, Joined, Joined];
    const unpublishedBefore = v4.client.notifications.filter((n) => n.method === 'track.unpublished').length;
    // Everyone on the relay (frankfurt-edge-1) leaves: its conference and room close, and with them the
    // pipe it served to frankfurt-edge-2.
    for (const v of [v1, v2, v3]) await v.client.request('leave', {});
    await expect.poll(() => b1.manager.get(ROOM), { timeout: 10_000 }).toBeUndefined();
    await v4.client.waitFor('track.unpublished', (d) => d.producerId === producerId, 10_000);
    expect(v4.client.notifications.filter((n) => n.method === 'track.unpublished').length).toBeGreaterThan(
      unpublishedBefore,
    );
    // Announced again after the withdrawal: the viewers consume it anew.
    const published = () =>
      v4.client.notifications.filter(
        (n) =>
          n.method === 'track.published' &&
          (n.data as { track: { producerId: string } }).track.producerId === producerId,
      ).length;
    await expect
      .poll(published, { timeout: 10_000 })
      .toBeGreaterThan(v4.join.tracks.some((t) => t.producerId === producerId) ? 0 : 1);
    await Promise.all([v4, v5].map((v) => consume(v, producerId)));
    // frankfurt-edge-2 now brings it from seoul itself, and becomes the relay once edge 1's claim is gone.
    expect(roomPipes(b2)).toEqual(
      expect.arrayContaining([{ peer: 'seoul-edge-1', srtp: true, producers: [producerId] }]),
    );
    await expect
      .poll(() => b2.tracks.originCopies(), { timeout: 15_000 })
      .toEqual([{ room: ROOM, producerId, owner: 'seoul-edge-1', relay: true }]);
    const rate = await crossingRate(producerId);
    console.log(
      `[relay test] after the relay closed: seoul → frankfurt ${Math.round(rate.toBPerSecond)} B/s over ${rate.pipes} pipe(s)`,
    );
    expect(pipesFromAToB().map((p) => p.callerNode)).toEqual(['frankfurt-edge-2']);
    expect(rate.toBPerSecond / rate.producerPerSecond).toBeGreaterThan(0.85);
    expect(rate.toBPerSecond / rate.producerPerSecond).toBeLessThan(1.2);
  });
});
