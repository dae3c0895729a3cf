import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CascadeService } from '../../edge/cascade/CascadeService';
import { PipeManager } from '../../edge/cascade/PipeManager';
import { InternalServer } from '../../edge/internal/InternalServer';
import { WorkerPool } from '../../edge/media/WorkerPool';
import { InternalTokens } from '../../lib/auth/internal';
import { resolveWorkerBin } from '../../lib/media/workerBin';
import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import { TEST_KEYS } from '../../test/support/edgeFixture';

export type WanEdgeOptions = {
  node: string;
  region: string;
  /**
   * The network namespace the mediasoup worker runs in (a site of a WAN mesh), or undefined for the
   * launcher's own namespace (loopback fallback).
   */
  netns?: string;
  /** Address of the site (the worker binds its WebRtcServer, plain and pipe transports there). */
  listenIp: string;
  rtcPort: number;
  portRange: { min: number; max: number };
  /** Port of the internal gRPC server (Cascade service) on 127.0.0.1 of the launcher's namespace. */
  internalPort: number;
};

/**
 * The media half of an edge as EdgeNode wires it (worker pool, internal gRPC server with the Cascade
 * service, PipeManager) — the same classes as test/services/cascade/cascadeEdge.ts — but with its
 * mediasoup worker inside a site's network namespace: the worker binary is started through a small
 * wrapper that `exec`s `ip netns exec <ns> <worker>`, which keeps the worker's pid and its channel
 * pipes (fds 3–4) as mediasoup expects. Every media socket (the pipe's too) is then the site's, so a
 * pipe between two such edges crosses the emulated WAN. The gRPC control plane stays on the launcher's
 * loopback: it sets the pipe up, it does not carry packets.
 */
export class WanEdge {
  readonly pool: WorkerPool;
  readonly internal: InternalServer;
  readonly service: CascadeService;
  readonly pipes: PipeManager;
  readonly ref: NodeRef;
  readonly #wrapperDir: string | undefined;

  static async start(o: WanEdgeOptions): Promise<WanEdge> {
    let wrapperDir: string | undefined;
    let workerBin = resolveWorkerBin();
    if (o.netns) {
      wrapperDir = mkdtempSync(join(tmpdir(), `meetview-bench-${o.node}-`));
      const wrapper = join(wrapperDir, 'mediasoup-worker');
      writeFileSync(wrapper, `#!/bin/sh\nexec /usr/sbin/ip netns exec '${o.netns}' '${workerBin}' "$@"\n`);
      chmodSync(wrapper, 0o755);
      workerBin = wrapper;
    }
    const tokens = new InternalTokens(TEST_KEYS);
    const internal = new InternalServer(tokens);
    let pool: WorkerPool | undefined;
    try {
      pool = await WorkerPool.create({
        numWorkers: 1,
        workerBin,
        listenIp: o.listenIp,
        basePort: o.rtcPort,
        rtcPortRange: o.portRange,
        loadSampleIntervalMs: 0,
      });
      const port = await internal.listen('127.0.0.1', o.internalPort);
      return new WanEdge(o, pool, internal, tokens, `127.0.0.1:${port}`, wrapperDir);
    } catch (error) {
      pool?.close();
      await internal.close();
      if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
      throw error;
    }
  }

  private constructor(
    o: WanEdgeOptions,
    pool: WorkerPool,
    internal: InternalServer,
    tokens: InternalTokens,
    address: string,
    wrapperDir: string | undefined,
  ) {
    this.pool = pool;
    this.internal = internal;
    this.#wrapperDir = wrapperDir;
    this.ref = { node: o.node, region: o.region, address };
    this.pipes = new PipeManager({ node: o.node, region: o.region, tokens });
    this.service = new CascadeService({
      node: o.node,
      region: o.region,
      rooms: (id) => pool.getRoom(id),
      relay: this.pipes,
    });
    internal.addService(this.service.definition, this.service.implementation());
  }

  async room(id: string) {
    return this.pool.getRoom(id) ?? (await this.pool.createRoom({ roomId: id }));
  }

  async close(): Promise<void> {
    this.pipes.close();
    this.service.close();
    await this.internal.close();
    this.pool.close();
    if (this.#wrapperDir) rmSync(this.#wrapperDir, { recursive: true, force: true });
  }
}
