import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { loadScore, NodeRegistry } from '../../../edge/routing/NodeRegistry';
import { createKafka, ROOM_EVENTS_TOPIC } from '../../../lib/kafka';
import { createRedisCluster } from '../../../lib/redis';
import { Envelope } from '../../../proto/gen/meetview/events/v1/events';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge, testTokens, wsUrl } from '../../support/edgeFixture';
import { outcome, RequestError, SignalingTestClient } from '../../support/SignalingTestClient';

// One region's Redis Cluster from the launcher, two edges of that region in this process.
const PORT_BASE = 24000;
let mesh: Mesh;
let edge1: EdgeNode;
let edge2: EdgeNode;
const clients: SignalingTestClient[] = [];

const VP8_PARAMS = {
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 22220001 }],
  rtcp: { cname: 'test', reducedSize: true },
};

async function mint(opts: { room: string; identity: string; name?: string; grants?: object; ttl?: number }) {
  const { token } = await testTokens.mint({
    room: opts.room,
    identity: opts.identity,
    name: opts.name ?? opts.identity,
    ...(opts.grants ? { grants: opts.grants } : {}),
    ...(opts.ttl !== undefined ? { ttlSeconds: opts.ttl } : {}),
  });
  return token;
}

/** Creates the send transport and publishes a (media-less) VP8 camera track. */
async function publishCamera(c: SignalingTestClient) {
  const send = await c.request('transport.create', { direction: 'send' });
  const { producerId } = await c.request('produce', {
    transportId: send.id,
    kind: 'video',
    source: 'camera',
    rtpParameters: VP8_PARAMS,
  });
  return { send, producerId };
}

/** Connects without joining (for checks that happen before placement). */
async function connect(
  edge: EdgeNode,
  opts: { room: string; identity: string; grants?: object; extra?: string },
) {
  const token = await mint(opts);
  const c = await SignalingTestClient.connect(wsUrl(edge, token, opts.extra));
  clients.push(c);
  return { client: c, token };
}

/** Joins the room wherever it lives, following a redirect like the web client does. */
async function join(
  opts: { room: string; identity: string; name?: string; grants?: object },
  via: EdgeNode = edge1,
) {
  const token = await mint(opts);
  const r = await SignalingTestClient.joinAnywhere(`${via.url.replace('http', 'ws')}/rtc`, token);
  clients.push(r.client);
  return { ...r, token };
}

async function routerCapabilities(): Promise<Record<string, unknown>> {
  const config = (await (await fetch(`${edge1.url}/api/config`)).json()) as {
    routerRtpCapabilities: Record<string, unknown>;
  };
  return config.routerRtpCapabilities;
}

/** Connects and sends `prepare` on the room's home edge (following a redirect like the web client). */
async function prepareAnywhere(room: string, identity: string, rtpCapabilities: Record<string, unknown>) {
  const token = await mint({ room, identity });
  for (const edge of [edge1, edge2]) {
    const client = await SignalingTestClient.connect(wsUrl(edge, token));
    clients.push(client);
    try {
      const prepared = await client.request('prepare', { rtpCapabilities });
      return { client: { client, prepared }, edge };
    } catch (err) {
      if (!client.notifications.some((n) => n.method === 'session.redirect')) throw err;
    }
  }
  throw new Error(`no edge prepared a connection for ${room}`);
}

/** The room's events in the region's room-events topic, as "<event> <identity>" lines. */
async function readRoomEvents(room: string, atLeast: number): Promise<string[]> {
  const kafka = createKafka({ brokers: mesh.info.regions.seoul!.kafka!.bootstrap, clientId: 'test-reader' });
  const consumer = kafka.consumer({ groupId: `test-${Date.now()}`, maxWaitTimeInMs: 50 });
  const out: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: ROOM_EVENTS_TOPIC, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${JSON.stringify(out)} in room-events`)), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const env = Envelope.decode(message.value!);
          if (env.room !== room || env.payload?.$case !== 'roomEvent') return;
          const ev = env.payload.value.event;
          const who = ev && 'participant' in ev.value ? ev.value.participant?.identity : undefined;
          out.push(`${ev?.$case} ${who ?? ''}`.trim());
          if (out.length >= atLeast) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'test-edge-signaling',
    portBase: PORT_BASE,
    regions: ['seoul'],
    core: false,
    mirrorMaker: false,
  });
  const block = mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === 'seoul')!.index);
  edge1 = await startTestEdge(mesh.info, {
    region: 'seoul',
    index: 1,
    httpPort: block + 50,
    rtcPort: block + 70,
    graceMs: 1500,
  });
  edge2 = await startTestEdge(mesh.info, {
    region: 'seoul',
    index: 2,
    httpPort: block + 51,
    rtcPort: block + 72,
    graceMs: 1500,
  });
});

afterAll(async () => {
  for (const c of clients) c.drop();
  await edge1?.close();
  await edge2?.close();
  await mesh?.stop();
});

describe('edge HTTP', () => {
  it('answers health and readiness', async () => {
    const h = await fetch(`${edge1.url}/healthz`);
    expect(h.status).toBe(200);
    const r = await fetch(`${edge1.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      ok: true,
      checks: { redis: 'ok', workers: 'ok' },
      node: 'seoul-edge-1',
    });
  });

  it('mints dev tokens and validates the request', async () => {
    const ok = await fetch(`${edge1.url}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'daily', identity: 'u1', name: '김민준' }),
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { token: string; url: string };
    expect(body.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/rtc\?token=/);
    expect((await testTokens.verify(body.token)).name).toBe('김민준');
    const bad = await fetch(`${edge1.url}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: '../etc', identity: '', name: 'x' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });
});

describe('token checks on the signaling socket', () => {
  const cases: [string, () => Promise<string>, string][] = [
    ['no token', async () => `${edge1.url.replace('http', 'ws')}/rtc`, 'INVALID_TOKEN'],
    [
      'garbage token',
      async () => `${edge1.url.replace('http', 'ws')}/rtc?token=abc.def.ghi`,
      'INVALID_TOKEN',
    ],
    [
      'expired token',
      async () =>
        wsUrl(edge1, (await testTokens.mint({ room: 'r1', identity: 'x', name: 'x', ttlSeconds: -5 })).token),
      'TOKEN_EXPIRED',
    ],
    [
      'token of another room',
      async () =>
        wsUrl(edge1, (await testTokens.mint({ room: 'r1', identity: 'x', name: 'x' })).token, '&room=r2'),
      'WRONG_ROOM',
    ],
    [
      'no join grant',
      async () =>
        wsUrl(
          edge1,
          (await testTokens.mint({ room: 'r1', identity: 'x', name: 'x', grants: { join: false } })).token,
        ),
      'FORBIDDEN',
    ],
  ];
  for (const [name, url, expected] of cases) {
    it(`refuses ${name} with ${expected} and close code 4401`, async () => {
      const c = await SignalingTestClient.connect(await url());
      clients.push(c);
      expect(await c.closed()).toBe(4401);
      const refused = await c.waitFor('session.refused');
      expect(refused.code).toBe(expected);
      expect(refused.message.length).toBeGreaterThan(5);
    });
  }
});

describe('join, notifications, leave', () => {
  it('joins with a snapshot, tells the others, publishes and consumes, and leaves', async () => {
    const { client: a, join: ja } = await join({ room: 'standup', identity: 'alice', name: 'Alice' });
    expect(ja.self).toMatchObject({
      identity: 'alice',
      name: 'Alice',
      region: 'seoul',
      node: 'seoul-edge-1',
    });
    expect(ja.resumed).toBe(false);
    expect(
      (ja.routerRtpCapabilities as { codecs: { mimeType: string }[] }).codecs.map((c) => c.mimeType),
    ).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8', 'video/VP9', 'video/H264']));

    // /api/config offers the same capabilities, so a client can load its device before joining.
    const config = (await (await fetch(`${edge1.url}/api/config`)).json()) as {
      routerRtpCapabilities: unknown;
    };
    expect(config.routerRtpCapabilities).toEqual(ja.routerRtpCapabilities);

    const { client: b, join: jb } = await join({ room: 'standup', identity: 'bob', name: 'Bob' }, edge2);
    expect(jb.self.node).toBe(ja.self.node);
    expect(jb.participants.map((p) => p.identity).sort()).toEqual(['alice', 'bob']);
    expect((await a.waitFor('participant.joined')).participant.identity).toBe('bob');

    const { send, producerId } = await publishCamera(a);
    const published = await b.waitFor('track.published');
    expect(published.track).toMatchObject({ producerId, identity: 'alice', source: 'camera', kind: 'video' });

    await b.request('transport.create', { direction: 'recv' });
    const consumed = await b.request('consume', {
      producerId,
      rtpCapabilities: jb.routerRtpCapabilities as Record<string, unknown>,
    });
    expect(consumed).toMatchObject({
      producerId,
      identity: 'alice',
      kind: 'video',
      source: 'camera',
      paused: true,
    });
    await b.request('consumer.resume', { consumerId: consumed.consumerId });
    // Bob cannot act on Alice's track.
    expect(await outcome(b.request('producer.close', { producerId }))).toBe('NOT_FOUND');
    // A camera must be video; a second camera is refused.
    expect(
      await outcome(
        a.request('produce', {
          transportId: send.id,
          kind: 'audio',
          source: 'camera',
          rtpParameters: VP8_PARAMS,
        }),
      ),
    ).toBe('BAD_REQUEST');

    await a.request('producer.close', { producerId });
    expect((await b.waitFor('consumer.closed')).producerId).toBe(producerId);
    expect((await b.waitFor('track.unpublished')).producerId).toBe(producerId);

    await a.request('leave', {});
    expect(await a.closed()).toBe(4000);
    expect(await b.waitFor('participant.left')).toEqual({ identity: 'alice', reason: 'left' });

    // The same story is in the region's room-events log, in order, for other regions and the core.
    const events = await readRoomEvents('standup', 5);
    expect(events.slice(0, 5)).toEqual([
      'participantJoined alice',
      'participantJoined bob',
      'trackPublished alice',
      'trackUnpublished alice',
      'participantLeft alice',
    ]);
  });

  it('joined with rtpCapabilities, a new session gets its transports and running consumers in the join', async () => {
    const { client: a } = await join({ room: 'prepared', identity: 'alice' });
    const { producerId } = await publishCamera(a);
    const config = (await (await fetch(`${edge1.url}/api/config`)).json()) as {
      routerRtpCapabilities: Record<string, unknown>;
    };
    const token = await mint({ room: 'prepared', identity: 'viewer', grants: { publish: false } });
    const { client: v, join: jv } = await SignalingTestClient.joinAnywhere(
      `${edge1.url.replace('http', 'ws')}/rtc`,
      token,
      { rtpCapabilities: config.routerRtpCapabilities },
    );
    clients.push(v);
    // No publish grant: a receive transport only, with everything a client needs to create its side.
    expect(jv.transports.map((t) => t.direction)).toEqual(['recv']);
    expect(jv.transports[0]).toMatchObject({
      iceParameters: expect.objectContaining({ usernameFragment: expect.any(String) }),
      dtlsParameters: expect.objectContaining({ fingerprints: expect.any(Array) }),
    });
    expect(jv.transports[0]!.iceCandidates.length).toBeGreaterThan(0);
    expect(jv.consumers).toEqual([
      expect.objectContaining({ producerId, identity: 'alice', kind: 'video', paused: false }),
    ]);
    // It is the session's receive transport: a second one is refused, consuming again is idempotent.
    expect(await outcome(v.request('transport.create', { direction: 'recv' }))).toBe('BAD_REQUEST');
    expect((await v.request('consume', { producerId })).consumerId).toBe(jv.consumers[0]!.consumerId);

    // Without capabilities the join stays as it was: the client asks for transports itself.
    const { join: jb } = await join({ room: 'prepared', identity: 'bob' });
    expect(jb.transports).toEqual([]);
    expect(jb.consumers).toEqual([]);
  });

  it('prepares a connection’s transports and paused consumers before its join, tells nobody, and the join adopts them', async () => {
    const room = 'warm';
    const { client: a } = await join({ room, identity: 'alice' });
    const { producerId } = await publishCamera(a);
    const { client: c } = await join({ room, identity: 'carol' });
    const carolCamera = await publishCamera(c);
    const caps = await routerCapabilities();
    const { client: v } = await prepareAnywhere(room, 'viewer', caps);
    const prep = v.prepared;
    // Who is there (the client shows them and their tracks as it joins) and their tracks now, paused
    // (nothing flows to someone who has not joined).
    expect(prep.participants.map((p) => [p.identity, p.name]).sort()).toEqual([
      ['alice', 'alice'],
      ['carol', 'carol'],
    ]);
    expect(prep.consumers.map((x) => [x.identity, x.producerId, x.kind, x.paused]).sort()).toEqual([
      ['alice', producerId, 'video', true],
      ['carol', carolCamera.producerId, 'video', true],
    ]);
    expect(prep.transports.map((t) => t.direction).sort()).toEqual(['recv', 'send']);
    const recv = prep.transports.find((t) => t.direction === 'recv')!;
    // SCTP on the receive transport only, with the warm-up channel on it: what lets the browser connect now.
    expect(recv.sctpParameters).toMatchObject({ port: expect.any(Number) });
    expect(prep.transports.find((t) => t.direction === 'send')!.sctpParameters).toBeUndefined();
    expect(prep.warmup).toMatchObject({ dataProducerId: expect.any(String), label: 'meetview-warmup' });
    // Once per connection; every other request still needs the join; nobody in the room was told.
    expect(await outcome(v.client.request('prepare', { rtpCapabilities: caps }))).toBe('BAD_REQUEST');
    expect(await outcome(v.client.request('consume', { producerId }))).toBe('NOT_JOINED');
    await new Promise((r) => setTimeout(r, 300));
    expect(
      a.notifications.some(
        (n) =>
          n.method === 'participant.joined' &&
          (n.data as { participant: { identity: string } }).participant.identity === 'viewer',
      ),
    ).toBe(false);

    // Between the prepare and the join: carol's camera closes, bob publishes one.
    await c.request('producer.close', { producerId: carolCamera.producerId });
    const { client: b } = await join({ room, identity: 'bob' });
    const bobCamera = await publishCamera(b);
    await new Promise((r) => setTimeout(r, 100));

    // The camera layer the client's grid wants: 0–2.
    expect(await outcome(v.client.request('join', { rtpCapabilities: caps, spatialLayer: 3 }))).toBe(
      'BAD_REQUEST',
    );
    const j = await v.client.request('join', { rtpCapabilities: caps, spatialLayer: 1 });
    expect(j.transports.map((t) => t.id).sort()).toEqual(prep.transports.map((t) => t.id).sort());
    // The prepared consumer, resumed by the join (its browser negotiated it already); carol's closed with
    // her track; bob's, new since the prepare, paused until the client has its track (the key frame comes
    // on resume, when it can be decoded).
    const preparedAlice = prep.consumers.find((x) => x.identity === 'alice')!;
    expect(j.consumers.map((x) => [x.identity, x.consumerId, x.paused]).sort()).toEqual([
      ['alice', preparedAlice.consumerId, false],
      ['bob', expect.any(String), true],
    ]);
    expect(j.consumers.find((x) => x.identity === 'bob')!.producerId).toBe(bobCamera.producerId);
    expect(await outcome(v.client.request('transport.create', { direction: 'recv' }))).toBe('BAD_REQUEST');
    expect(await outcome(v.client.request('prepare', { rtpCapabilities: caps }))).toBe('BAD_REQUEST');
    await a.waitFor('participant.joined', (d) => d.participant.identity === 'viewer');
  });

  it('closes what a connection prepared when it goes away without joining, and keeps no room for it', async () => {
    const room = 'warm-abandoned';
    const caps = await routerCapabilities();
    const { client: v, edge } = await prepareAnywhere(room, 'ghost', caps);
    const media = edge.pool.getRoom(room);
    expect(media, 'the room is open on its home edge while a prejoin holds transports there').toBeDefined();
    const ids = v.prepared.transports.map((t) => t.id);
    expect((await media!.dump()).transportIds).toEqual(expect.arrayContaining(ids));
    // Someone else joins and leaves meanwhile: the prepared transports keep the room open.
    const { client: b } = await join({ room, identity: 'bob' });
    await b.request('leave', {});
    await new Promise((r) => setTimeout(r, 200));
    expect(edge.pool.getRoom(room)).toBeDefined();
    v.client.ws.close();
    const deadline = Date.now() + 5_000;
    while (edge.pool.getRoom(room) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(media!.closed, 'the room closed with its last prepared connection').toBe(true);
    expect(edge.manager.get(room)).toBeUndefined();
  });

  it('writes a track paused and resumed by its owner to the room-events log', async () => {
    const { client: a } = await join({ room: 'muting', identity: 'alice' });
    const { producerId } = await publishCamera(a);
    await a.request('producer.pause', { producerId });
    await a.request('producer.resume', { producerId });
    expect(await readRoomEvents('muting', 4)).toEqual([
      'participantJoined alice',
      'trackPublished alice',
      'trackMuted alice',
      'trackMuted alice',
    ]);
  });

  it('refuses to publish without the publish grant, and says so', async () => {
    const { client } = await join({ room: 'webinar', identity: 'viewer', grants: { publish: false } });
    const err = await client.request('transport.create', { direction: 'send' }).catch((e: RequestError) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).code).toBe('FORBIDDEN');
    expect((err as RequestError).message).toMatch(/publish/);
    // Subscribing is still allowed.
    expect(await outcome(client.request('transport.create', { direction: 'recv' }))).toBe('ok');
  });
});

describe('bad input', () => {
  it('answers every malformed frame with a typed error and keeps serving this and other clients', async () => {
    const { client: pre } = await connect(edge1, { room: 'noisy', identity: 'n0' });
    expect(
      (await pre.raw({ id: 9002, method: 'transport.create', data: { direction: 'send' } })).error?.code,
    ).toBe('NOT_JOINED');
    const { client: other } = await join({ room: 'noisy', identity: 'n2' });
    const { client: c } = await join({ room: 'noisy', identity: 'n1' });
    expect((await c.raw('not json')).error?.code).toBe('BAD_REQUEST');
    expect((await c.raw(Buffer.from([1, 2, 3]))).error?.code).toBe('BAD_REQUEST');
    expect((await c.raw({ id: 9001, method: 'join', data: {}, extra: true })).error?.code).toBe(
      'BAD_REQUEST',
    );
    expect((await c.raw({ id: 9001.5, method: 'join', data: {} })).error?.code).toBe('BAD_REQUEST');
    expect((await c.raw({ id: 9003, method: 'nope', data: {} })).error?.code).toBe('UNKNOWN_METHOD');
    expect((await c.raw({ id: 9004, method: 'x'.repeat(70_000), data: {} })).error?.code).toBe('TOO_LARGE');
    expect(
      (await c.raw({ id: 9005, method: 'transport.create', data: { direction: 'sideways' } })).error?.code,
    ).toBe('BAD_REQUEST');
    expect(
      (
        await c.raw({
          id: 9006,
          method: 'produce',
          data: { transportId: 'nope', kind: 'video', source: 'camera', rtpParameters: {} },
        })
      ).error?.code,
    ).toBe('NOT_FOUND');
    expect((await c.raw({ id: 9007, method: 'join', data: {} })).error?.code).toBe('BAD_REQUEST'); // already joined
    expect(c.closeCode).toBeUndefined();
    expect(await outcome(other.request('transport.create', { direction: 'recv' }))).toBe('ok');
    expect(await outcome(c.request('transport.create', { direction: 'recv' }))).toBe('ok');
  });

  it('rate-limits a flooding client without disturbing the others', async () => {
    const { client: flood } = await join({ room: 'flood', identity: 'f1' });
    const { client: calm } = await join({ room: 'flood', identity: 'f2' });
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => flood.raw({ id: 1000 + i, method: 'chat.history', data: {} })),
    );
    const limited = results.filter((r) => r.error?.code === 'RATE_LIMITED').length;
    expect(limited).toBeGreaterThan(100);
    // Every request got exactly one answer, and the calm client is served at once.
    expect(results).toHaveLength(300);
    expect(await outcome(calm.request('transport.create', { direction: 'recv' }))).toBe('ok');
  });
});

describe('placement across the edges of a region', () => {
  it('redirects a client that reaches another edge to the room’s home', async () => {
    const { client: first, join: j } = await join({ room: 'placed', identity: 'p1' });
    expect(first.closeCode).toBeUndefined();
    const home = j.self.node;
    const other = home === 'seoul-edge-1' ? edge2 : edge1;
    const homeEdge = home === 'seoul-edge-1' ? edge1 : edge2;
    const { client: lost } = await connect(other, { room: 'placed', identity: 'p2' });
    expect(await outcome(lost.request('join', {}))).toBe('UNAVAILABLE');
    const redirect = await lost.waitFor('session.redirect');
    expect(redirect.node).toBe(home);
    expect(redirect.url).toBe(`${homeEdge.url.replace('http', 'ws')}/rtc`);
    expect(await lost.closed()).toBe(4302);
  });

  it('places each new room on the least-loaded edge', async () => {
    const redis = createRedisCluster(mesh.info.regions.seoul!.redis!.nodes);
    const registry = new NodeRegistry(redis, 'seoul');
    const score = (e: EdgeNode) => loadScore(e.manager.load());
    // Waits until both edges' heartbeats in Redis show the load they have now.
    const settled = async () => {
      for (let i = 0; i < 100; i++) {
        const live = await registry.live();
        const ok = [edge1, edge2].every((e) => {
          const rec = live.find((n) => n.id === e.config.nodeId);
          return rec !== undefined && loadScore(rec) === score(e);
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('heartbeats did not catch up');
    };
    try {
      for (let i = 0; i < 4; i++) {
        await settled();
        const via = i % 2 ? edge1 : edge2;
        const other = via === edge1 ? edge2 : edge1;
        const expected = score(other) < score(via) ? other : via;
        const { join: j } = await join({ room: `spread-${i}`, identity: 's' }, via);
        expect(j.self.node).toBe(expected.config.nodeId);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('reconnect', () => {
  it('a socket that drops while its join is being answered still leaves after the grace period', async () => {
    const room = 'ghost';
    const { client: stay, join: js } = await join({ room, identity: 'stay' });
    const home = js.self.node === 'seoul-edge-1' ? edge1 : edge2;
    const token = await mint({ room, identity: 'ghost' });
    const ghost = await SignalingTestClient.connect(wsUrl(home, token));
    clients.push(ghost);
    // The join leaves this machine, then the connection is cut before any answer.
    ghost.ws.send(JSON.stringify({ id: 1, method: 'join', data: {} }), () => ghost.drop());
    expect(
      (await stay.waitFor('participant.joined', (d) => d.participant.identity === 'ghost')).participant
        .identity,
    ).toBe('ghost');
    expect(await stay.waitFor('participant.left', (d) => d.identity === 'ghost', 8000)).toEqual({
      identity: 'ghost',
      reason: 'timeout',
    });
  });

  it('resumes a dropped socket within the grace period, and ends the session after it', async () => {
    const room = 'resume';
    const { client: stay, join: js } = await join({ room, identity: 'stay' });
    const home = js.self.node === 'seoul-edge-1' ? edge1 : edge2;
    const { client: a, token } = await join({ room, identity: 'flaky' }, home);
    const { send, producerId } = await publishCamera(a);

    a.drop();
    await new Promise((r) => setTimeout(r, 300));
    const again = await SignalingTestClient.connect(wsUrl(home, token));
    clients.push(again);
    const j = await again.request('join', {});
    expect(j.resumed).toBe(true);
    expect(j.transports.map((t) => t.id)).toEqual([send.id]);
    expect(j.producers.map((p) => p.producerId)).toEqual([producerId]);
    expect(
      (await again.request('transport.restartIce', { transportId: send.id })).iceParameters,
    ).toBeTruthy();
    expect(stay.notifications.some((n) => n.method === 'participant.left')).toBe(false);

    // A newer socket for the same identity replaces the older one.
    const newer = await SignalingTestClient.connect(wsUrl(home, token));
    clients.push(newer);
    expect((await newer.request('join', {})).resumed).toBe(true);
    expect(await again.closed()).toBe(4409);

    // Past the grace period (1.5 s) the participant leaves and the others are told.
    newer.drop();
    expect(await stay.waitFor('participant.left', (d) => d.identity === 'flaky', 8000)).toEqual({
      identity: 'flaky',
      reason: 'timeout',
    });
    expect((await stay.waitFor('track.unpublished')).producerId).toBe(producerId);
  });
});
