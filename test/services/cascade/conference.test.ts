import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import type { ResponseData } from '../../../proto/signaling/messages';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge, testTokens } from '../../support/edgeFixture';
import { SignalingTestClient } from '../../support/SignalingTestClient';

// Two regions (Redis, Kafka, MirrorMaker 2 from the launcher; port base 13000) and one EdgeNode per
// region in this process, so the test can look at each edge's pipes. Signaling-only clients: a producer
// needs no media to exist, be announced, piped and consumed, which is what is checked here (the browser
// test checks that the media plays).
const PORT_BASE = 13000;
const ROOM = 'xr-conference';
const VP8_PARAMS = {
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 33330001 }],
  rtcp: { cname: 'xr', reducedSize: true },
};

let mesh: Mesh;
let seoul: EdgeNode;
let frankfurt: EdgeNode;
const clients: SignalingTestClient[] = [];

async function join(edge: EdgeNode, identity: string) {
  const { token } = await testTokens.mint({ room: ROOM, identity, name: identity.toUpperCase() });
  const r = await SignalingTestClient.joinAnywhere(`${edge.url.replace('http', 'ws')}/rtc`, token);
  expect(r.redirected).toBe(false);
  clients.push(r.client);
  return { client: r.client, join: r.join };
}

/** A recv transport and a consumer of `producerId`, resumed. */
async function consume(c: SignalingTestClient, snapshot: ResponseData['join'], producerId: string) {
  await c.request('transport.create', { direction: 'recv' });
  const consumer = await c.request('consume', {
    producerId,
    rtpCapabilities: snapshot.routerRtpCapabilities as Record<string, unknown>,
  });
  await c.request('consumer.resume', { consumerId: consumer.consumerId });
  return consumer;
}

/** Frankfurt's pipes for the room: producers piped in, per peer edge. */
const frankfurtPipes = () =>
  frankfurt.pipes
    .pipes()
    .filter((p) => p.room === ROOM)
    .map((p) => ({ peer: p.peer, srtp: p.srtp, producers: p.producers.map((x) => x.producerId) }));

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-cascade-conference',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
  });
  const block = (region: string) =>
    mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === region)!.index);
  seoul = await startTestEdge(mesh.info, {
    region: 'seoul',
    index: 1,
    httpPort: block('seoul') + 50,
    rtcPort: block('seoul') + 70,
  });
  frankfurt = await startTestEdge(mesh.info, {
    region: 'frankfurt',
    index: 1,
    httpPort: block('frankfurt') + 50,
    rtcPort: block('frankfurt') + 70,
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await seoul?.close();
  await frankfurt?.close();
  await mesh?.stop();
});

describe('a conference across two regions (signaling and pipes)', () => {
  let ana: Awaited<ReturnType<typeof join>>;
  let dee: Awaited<ReturnType<typeof join>>;
  let producerId: string;

  it('shows a seoul publisher and its track in frankfurt, through the usual notifications', async () => {
    ana = await join(seoul, 'ana');
    const send = await ana.client.request('transport.create', { direction: 'send' });
    ({ producerId } = await ana.client.request('produce', {
      transportId: send.id,
      kind: 'video',
      source: 'camera',
      rtpParameters: VP8_PARAMS,
    }));
    // dee stays in frankfurt all along (the conference there stays open while others come and go).
    dee = await join(frankfurt, 'dee');
    // In the join snapshot if the mirrored events were there first, else as notifications right after.
    const inSnapshot = dee.join.tracks.some((t) => t.producerId === producerId);
    if (!inSnapshot)
      await dee.client.waitFor('track.published', (d) => d.track.producerId === producerId, 30_000);
    const anaInfo =
      dee.join.participants.find((p) => p.identity === 'ana') ??
      (await dee.client.waitFor('participant.joined', (d) => d.participant.identity === 'ana')).participant;
    expect(anaInfo).toMatchObject({ name: 'ANA', region: 'seoul', node: 'seoul-edge-1' });
    // Seoul sees dee the same way, and nobody is piped before someone consumes.
    await ana.client.waitFor('participant.joined', (d) => d.participant.identity === 'dee', 30_000);
    expect(frankfurtPipes()).toEqual([]);
  });

  it('pipes the track once for two viewers, and gives the pipe back with the last viewer', async () => {
    const bo = await join(frankfurt, 'bo');
    const cy = await join(frankfurt, 'cy');
    const [cb, cc] = await Promise.all([
      consume(bo.client, bo.join, producerId),
      consume(cy.client, cy.join, producerId),
    ]);
    expect(cb).toMatchObject({ producerId, identity: 'ana', kind: 'video', source: 'camera' });
    expect(cc.consumerId).not.toBe(cb.consumerId);
    // One pipe to seoul's edge, SRTP (it leaves the region), carrying the producer once.
    expect(frankfurtPipes()).toEqual([{ peer: 'seoul-edge-1', srtp: true, producers: [producerId] }]);
    expect(frankfurt.manager.get(ROOM)?.remoteState().leases).toEqual([producerId]);

    await bo.client.request('leave', {});
    await new Promise((r) => setTimeout(r, 300));
    expect(frankfurtPipes()).toEqual([{ peer: 'seoul-edge-1', srtp: true, producers: [producerId] }]);
    await cy.client.request('leave', {});
    await expect.poll(frankfurtPipes, { timeout: 5000 }).toEqual([]);
    expect(frankfurt.manager.get(ROOM)?.remoteState()).toEqual({
      participants: ['ana'],
      tracks: [producerId],
      leases: [],
    });
  });

  it('closes the viewers’ consumers and withdraws the track when the seoul publisher closes it', async () => {
    const consumer = await consume(dee.client, dee.join, producerId);
    expect(frankfurtPipes()).toHaveLength(1);
    await ana.client.request('producer.close', { producerId });
    await dee.client.waitFor('consumer.closed', (d) => d.consumerId === consumer.consumerId, 10_000);
    await dee.client.waitFor('track.unpublished', (d) => d.producerId === producerId, 10_000);
    await expect.poll(frankfurtPipes, { timeout: 5000 }).toEqual([]);
    // Once: the pipe's close and the mirrored unpublish both report it, dee hears of it one time.
    await new Promise((r) => setTimeout(r, 1500));
    const unpublished = dee.client.notifications.filter(
      (n) => n.method === 'track.unpublished' && (n.data as { producerId: string }).producerId === producerId,
    );
    expect(unpublished).toHaveLength(1);
  });

  it('tells frankfurt when the seoul participant leaves', async () => {
    await ana.client.request('leave', {});
    const left = await dee.client.waitFor('participant.left', (d) => d.identity === 'ana', 30_000);
    expect(left.reason).toBe('left');
    expect(frankfurt.manager.get(ROOM)?.remoteState().participants).toEqual([]);
  });
});
