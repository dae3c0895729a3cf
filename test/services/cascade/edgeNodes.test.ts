import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayDirectory } from '../../../edge/cascade/RelayDirectory';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { PlainRtpEndpoint } from '../../../edge/media/PlainRtpEndpoint';
import { RtpSourceProcess } from '../../../edge/media/RtpSourceProcess';
import { vp8RtpParameters } from '../../../edge/media/rtpParameters';
import { UdpSink } from '../../../edge/media/UdpSink';
import { NodeRegistry } from '../../../edge/routing/NodeRegistry';
import { createRedisCluster } from '../../../lib/redis';
import { CascadeServiceClient, type NodeRef } from '../../../proto/gen/meetview/cascade/v1/cascade';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge } from '../../support/edgeFixture';

// Two real EdgeNodes of one region (Redis Cluster and Kafka from the launcher, port base 20000): the
// cascade as EdgeNode wires it, found through the node heartbeat's `internal` address.
const PORT_BASE = 20000;
const REGION = 'seoul';

describe('cascade between two EdgeNodes', () => {
  let mesh: Mesh;
  let edge1: EdgeNode;
  let edge2: EdgeNode;
  let redis: Cluster;
  let gst: RtpSourceProcess | undefined;
  const owned: { close(): void }[] = [];

  beforeAll(async () => {
    mesh = await Mesh.start({
      name: 'test-cascade-edges',
      portBase: PORT_BASE,
      regions: [REGION],
      core: false,
      mirrorMaker: false,
    });
    const block = mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === REGION)!.index);
    edge1 = await startTestEdge(mesh.info, {
      region: REGION,
      index: 1,
      httpPort: block + 50,
      rtcPort: 16490,
    });
    edge2 = await startTestEdge(mesh.info, {
      region: REGION,
      index: 2,
      httpPort: block + 51,
      rtcPort: 16495,
    });
    const redisInfo = mesh.info.regions[REGION]?.redis;
    if (!redisInfo) throw new Error(`the mesh has no Redis Cluster for ${REGION}`);
    redis = createRedisCluster(redisInfo.nodes);
  });

  afterAll(async () => {
    await gst?.stop();
    for (const o of owned) o.close();
    redis?.disconnect();
    await edge1?.close();
    await edge2?.close();
    await mesh?.stop();
  });

  /** Where edge 1 is, as any edge of the region learns it: from its heartbeat. */
  async function edge1Ref(): Promise<NodeRef> {
    const registry = new NodeRegistry(redis, REGION);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const record = await registry.get(edge1.config.nodeId);
      if (record?.internal) return { node: record.id, region: record.region, address: record.internal };
      if (Date.now() > deadline) throw new Error('edge 1 published no internal address in its heartbeat');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('pipes a producer from edge 1 to a consumer on edge 2, and closes the pipe on release', async () => {
    const roomName = 'cascade-edges';
    const origin = await edge1.pool.createRoom({ roomId: roomName });
    owned.push(origin);
    const ingress = await PlainRtpEndpoint.create(origin, { peerId: 'alice', comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: 7500 }));
    gst = RtpSourceProcess.gstreamerVp8({ ...ingress.local, ssrc: 7500 });

    const room = await edge2.pool.createRoom({ roomId: roomName });
    owned.push(room);
    const source = await edge1Ref();
    const lease = await edge2.pipes.acquire({ room, producerId: producer.id, source });
    const sink = await UdpSink.bind();
    const endpoint = await PlainRtpEndpoint.create(room, { peerId: 'viewer', remote: sink.address });
    owned.push(sink, endpoint);
    const consumer = await endpoint.consume(producer.id);
    await sink.waitForPackets(60, 20_000, consumer.rtpParameters.encodings![0]!.ssrc!);
    expect(edge1.cascade.pipes()).toEqual([
      expect.objectContaining({ callerNode: edge2.config.nodeId, room: roomName, producers: [producer.id] }),
    ]);

    endpoint.close();
    lease.release();
    const deadline = Date.now() + 5000;
    while (edge1.cascade.pipes().length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(edge1.cascade.pipes()).toEqual([]);
    expect(edge2.pipes.pipes()).toEqual([]);
  });

  it("refuses a call without a token on the edge's internal port, and answers NOT_FOUND for an unknown producer", async () => {
    const source = await edge1Ref();
    const raw = new CascadeServiceClient(source.address, credentials.createInsecure());
    try {
      const code = await new Promise<number>((resolve) =>
        raw.closePipe({ pipeId: 'x' }, new Metadata(), (err) => resolve(err?.code ?? status.OK)),
      );
      expect(code).toBe(status.UNAUTHENTICATED);
    } finally {
      raw.close();
    }
    const room =
      edge2.pool.getRoom('cascade-edges') ?? (await edge2.pool.createRoom({ roomId: 'cascade-edges' }));
    const err = await edge2.pipes.acquire({ room, producerId: 'gone', source }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.NOT_FOUND });
  });

  it('elects one relay per track and region in Redis: the first claim wins, expiry hands it over', async () => {
    const directory = new RelayDirectory(redis, REGION, { ttlMs: 400 });
    const room = 'relay-room';
    expect(await directory.relayOf(room, 'p1')).toBeUndefined();
    expect(await directory.claim(room, 'p1', 'seoul-edge-2')).toEqual({ relay: 'seoul-edge-2', mine: true });
    // Another edge of the region pipes from the relay instead of the origin.
    expect(await directory.claim(room, 'p1', 'seoul-edge-3')).toEqual({ relay: 'seoul-edge-2', mine: false });
    // Only the holder extends or releases the claim.
    expect(await directory.refresh(room, 'p1', 'seoul-edge-3')).toBe(false);
    expect(await directory.refresh(room, 'p1', 'seoul-edge-2')).toBe(true);
    await directory.release(room, 'p1', 'seoul-edge-3');
    expect(await directory.relayOf(room, 'p1')).toBe('seoul-edge-2');
    await directory.release(room, 'p1', 'seoul-edge-2');
    expect(await directory.relayOf(room, 'p1')).toBeUndefined();
    // A relay that stops refreshing (it died) loses the claim after its lease time.
    await directory.claim(room, 'p2', 'seoul-edge-2');
    await new Promise((r) => setTimeout(r, 600));
    expect(await directory.claim(room, 'p2', 'seoul-edge-3')).toEqual({ relay: 'seoul-edge-3', mine: true });
  });
});
