import { CascadeService } from '../../../edge/cascade/CascadeService';
import { PipeManager } from '../../../edge/cascade/PipeManager';
import { InternalServer } from '../../../edge/internal/InternalServer';
import { WorkerPool } from '../../../edge/media/WorkerPool';
import { InternalTokens } from '../../../lib/auth/internal';
import type { NodeRef } from '../../../proto/gen/meetview/cascade/v1/cascade';
import { TEST_KEYS } from '../../support/edgeFixture';

export type CascadeEdgeOptions = {
  node: string;
  region: string;
  /** WebRtcServer port of its one worker (16000–16999 for in-process edges). */
  rtcPort: number;
  /** Ports for pipe and plain transports. */
  portRange: { min: number; max: number };
  keepaliveMs?: number;
  keepaliveDeadlineMs?: number;
  lingerMs?: number;
};

/**
 * The media half of an edge, as EdgeNode builds it: a worker pool, the internal gRPC server (internal
 * token required), the Cascade service on it and the subscriber-side PipeManager that also serves
 * relays. No Redis or Kafka: the cascade does not use them. Real mediasoup, real gRPC.
 */
export class CascadeEdge {
  readonly pool: WorkerPool;
  readonly internal: InternalServer;
  readonly tokens: InternalTokens;
  readonly service: CascadeService;
  readonly pipes: PipeManager;
  readonly ref: NodeRef;

  static async start(o: CascadeEdgeOptions): Promise<CascadeEdge> {
    const tokens = new InternalTokens(TEST_KEYS);
    const internal = new InternalServer(tokens);
    const pool = await WorkerPool.create({
      numWorkers: 1,
      listenIp: '127.0.0.1',
      basePort: o.rtcPort,
      rtcPortRange: o.portRange,
      loadSampleIntervalMs: 0,
    });
    try {
      const port = await internal.listen('127.0.0.1', 0);
      return new CascadeEdge(o, pool, internal, tokens, `127.0.0.1:${port}`);
    } catch (error) {
      pool.close();
      await internal.close();
      throw error;
    }
  }

  private constructor(
    o: CascadeEdgeOptions,
    pool: WorkerPool,
    internal: InternalServer,
    tokens: InternalTokens,
    address: string,
  ) {
    this.pool = pool;
    this.internal = internal;
    this.tokens = tokens;
    this.ref = { node: o.node, region: o.region, address };
    this.pipes = new PipeManager({
      node: o.node,
      region: o.region,
      tokens,
      ...(o.keepaliveDeadlineMs ? { keepaliveDeadlineMs: o.keepaliveDeadlineMs } : {}),
    });
    this.service = new CascadeService({
      node: o.node,
      region: o.region,
      rooms: (id) => pool.getRoom(id),
      relay: this.pipes,
      ...(o.keepaliveMs ? { keepaliveMs: o.keepaliveMs } : {}),
      ...(o.lingerMs ? { lingerMs: o.lingerMs } : {}),
    });
    internal.addService(this.service.definition, this.service.implementation());
  }

  async room(id: string) {
    return this.pool.getRoom(id) ?? (await this.pool.createRoom({ roomId: id }));
  }

  /** Pipe transports in a room, from the router's own dump (not from our bookkeeping). */
  async pipeTransportIds(roomId: string): Promise<string[]> {
    const room = this.pool.getRoom(roomId);
    if (!room || room.closed) return [];
    const dump = await room.dump();
    const ids: string[] = [];
    for (const id of dump.transportIds) {
      const stats = await room.getTransportStats(id).catch(() => []);
      if ((stats[0] as { type?: string } | undefined)?.type === 'pipe-transport') ids.push(id);
    }
    return ids;
  }

  async close(): Promise<void> {
    this.pipes.close();
    this.service.close();
    await this.internal.close();
    this.pool.close();
  }
}
