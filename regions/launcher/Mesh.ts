import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Catalogue, loadCatalogue, type RegionSpec } from '../../lib/catalogue';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { CORE_TOPICS, REGION_TOPICS } from '../../lib/kafka/topics';
import { DEFAULT_MESH_NAME, type MeshInfo, meshRoot, parseMeshInfo, type RegionInfo } from '../../lib/mesh';
import { KafkaCluster } from './KafkaCluster';
import { assertKafkaLib, defaultJava, defaultKafkaLibDir, type JitMode } from './kafkaRuntime';
import { ManagedProcess, type ManagedProcessOptions } from './ManagedProcess';
import { MirrorMaker } from './MirrorMaker';
import { DEFAULT_PORT_BASE, PortAllocator } from './PortAllocator';
import { RedisCluster } from './RedisCluster';
import { ServiceStartError } from './ServiceStartError';
import { isPidAlive, killProcessesUnder, tailFile } from './system';
import { assertWanSupport } from './wan/netns';
import { Wan } from './wan/Wan';
import { type WanOptions, WanPlan } from './wan/WanPlan';

export interface MeshOptions {
  /** Names the mesh directory `.mesh/<name>` (default `dev`). */
  name?: string;
  /** First port of the mesh; two meshes side by side need bases ≥ 1000 apart. */
  portBase?: number;
  /** Region ids to run (default: every region of the catalogue). */
  regions?: readonly string[];
  /** Run the core region's Kafka (default true). */
  core?: boolean;
  /** Start Redis Clusters (default true). */
  redis?: boolean;
  /** Start Kafka (default true). */
  kafka?: boolean;
  /** Start MirrorMaker 2 for the topology's flows between the selected clusters (default true with Kafka). */
  mirrorMaker?: boolean;
  /** Run this region's Kafka as 3 brokers (RF 3, min ISR 2). */
  threeBrokerRegion?: string;
  /** java executable (default $JAVA, $JAVA_HOME/bin/java, `java`). */
  java?: string;
  /** Kafka jars (default <cache>/kafka/<version>/lib from scripts/kafka/fetch-jars.sh). */
  kafkaLibDir?: string;
  redisServer?: string;
  redisCli?: string;
  /** Redis cluster-node-timeout (default 1000 ms). */
  redisNodeTimeoutMs?: number;
  kafkaHeapMb?: number;
  /** The brokers' JIT: 'quick' (default, C1 only) or 'full' (C2). */
  kafkaJit?: JitMode;
  /** Directory holding catalogue/ and topology.json (default regions/). */
  regionsDir?: string;
  /** Parent of mesh directories (default .mesh/ at the repository root). */
  root?: string;
  /** Progress lines while starting and stopping. */
  onProgress?: (line: string) => void;
  /** Stop the mesh on SIGINT/SIGTERM, then exit (the CLI sets it). */
  handleSignals?: boolean;
  /**
   * Run every site (each region and the core) in its own network namespace, with a user-space link
   * emulator (delay, jitter, loss, partitions) on every path between sites: see wan/README.md.
   * Needs root; `true` means the default links (80 ms RTT seoul–frankfurt, 150 ms otherwise).
   */
  wan?: boolean | WanOptions;
}

export type MeshEvents = {
  /** A child exited on its own: the mesh is being stopped. */
  died: [service: string, reason: string];
  close: [];
};

interface RegionRuntime {
  spec: RegionSpec;
  block: number;
  redis: RedisCluster | null;
  kafka: KafkaCluster | null;
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/**
 * The local mesh: per region a Redis Cluster and Kafka, the core's Kafka, MirrorMaker 2. Start it
 * with Mesh.start(); it stops everything it started on stop(), on a crash of any part, and (with
 * handleSignals) on SIGINT/SIGTERM.
 */
export class Mesh extends TypedEmitter<MeshEvents> {
  readonly name: string;
  readonly dir: string;
  readonly logDir: string;
  readonly ports: PortAllocator;
  readonly catalogue: Catalogue;
  readonly #regions = new Map<string, RegionRuntime>();
  readonly #progress: (line: string) => void;
  #mirrorMaker: MirrorMaker | null = null;
  #wan: Wan | null = null;
  /** Processes started on top of the infrastructure (edges, core services): stopped first. */
  readonly #extra: ManagedProcess[] = [];
  #startedAt = new Date();
  #stopping: Promise<void> | null = null;
  #closed = false;
  readonly #exitHandler = () => this.#killSync();
  readonly #signalHandler = (sig: NodeJS.Signals) => {
    this.#progress(`${sig}: stopping the mesh`);
    void this.stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  readonly #handleSignals: boolean;

  private constructor(options: MeshOptions, catalogue: Catalogue, dir: string) {
    super();
    this.name = options.name ?? DEFAULT_MESH_NAME;
    this.dir = dir;
    this.logDir = join(dir, 'logs');
    this.catalogue = catalogue;
    this.ports = new PortAllocator(options.portBase ?? DEFAULT_PORT_BASE);
    this.#handleSignals = options.handleSignals ?? false;
    const prefix = `[mesh ${this.name}]`;
    this.#progress = (line) => options.onProgress?.(`${prefix} ${line}`);
  }

  /** Starts a mesh and resolves once every service is ready. On failure everything started is stopped. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const catalogue = loadCatalogue(options.regionsDir);
    const name = options.name ?? DEFAULT_MESH_NAME;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new Error(`invalid mesh name ${JSON.stringify(name)}`);
    const dir = join(options.root ?? meshRoot(), name);
    if (options.wan) assertWanSupport();
    const mesh = new Mesh(options, catalogue, dir);
    await mesh.#prepareDir();
    mesh.#plan(options);
    try {
      await mesh.#startAll(options);
    } catch (error) {
      mesh.#progress(`start failed; stopping what was started`);
      await mesh.stop();
      throw error;
    }
    return mesh;
  }

  /** Refuses to start over a running mesh of the same name; cleans up after a killed launcher. */
  async #prepareDir(): Promise<void> {
    const file = join(this.dir, 'mesh.json');
    if (existsSync(file)) {
      try {
        const old = parseMeshInfo(readFileSync(file, 'utf8'), file);
        if (old.launcherPid !== process.pid && isPidAlive(old.launcherPid))
          throw new Error(
            `mesh "${this.name}" is already running (launcher pid ${old.launcherPid}); ` +
              `stop it with \`npm run mesh -- down --name ${this.name}\` or pick another --name`,
          );
      } catch (error) {
        if ((error as Error).message.includes('already running')) throw error;
      }
    }
    const stale = await killProcessesUnder(this.dir);
    if (stale > 0) this.#progress(`killed ${stale} leftover process(es) of a previous run under ${this.dir}`);
    const staleNs = Wan.removeStale(this.name);
    if (staleNs > 0) this.#progress(`removed ${staleNs} network namespace(s) left by a previous run`);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
  }

  #plan(o: MeshOptions): void {
    const cat = this.catalogue;
    const ids = o.regions ?? cat.regions.map((r) => r.id);
    const selected = ids.map((id) => {
      const spec = cat.get(id);
      if (spec.kind !== 'region') throw new Error(`"${id}" is the core, not a region (use core: true)`);
      return spec;
    });
    if (o.core ?? true) selected.push(cat.core);
    if (o.threeBrokerRegion !== undefined && !selected.some((s) => s.id === o.threeBrokerRegion))
      throw new Error(
        `--three-broker ${o.threeBrokerRegion}: not one of the mesh's regions (${selected.map((s) => s.id).join(', ')})`,
      );

    const withKafka = o.kafka ?? true;
    const java = o.java ?? defaultJava();
    const libDir = o.kafkaLibDir ?? defaultKafkaLibDir();
    if (withKafka) assertKafkaLib(libDir);

    if (o.wan) {
      const plan = new WanPlan(
        this.name,
        this.ports.portBase,
        selected.map((s) => ({ id: s.id, index: s.index })),
        o.wan === true ? {} : o.wan,
      );
      this.#wan = new Wan({ plan, dir: this.dir, logDir: this.logDir, onProgress: this.#progress });
      this.#wan.on('died', (proc, code, sig) => this.#onDied(proc, code, sig));
    }

    for (const spec of selected) {
      const block = this.ports.block(spec.index);
      const host = this.hostOf(spec.id);
      const netns = this.netnsOf(spec.id);
      const redisSpec = spec.redis;
      const redis =
        (o.redis ?? true) && redisSpec
          ? new RedisCluster({
              region: spec.id,
              ports: this.ports.ports(
                spec.index,
                'redis',
                redisSpec.masters * (1 + redisSpec.replicasPerMaster),
              ),
              busPorts: this.ports.ports(
                spec.index,
                'redisBus',
                redisSpec.masters * (1 + redisSpec.replicasPerMaster),
              ),
              replicasPerMaster: redisSpec.replicasPerMaster,
              dir: join(this.dir, 'redis', spec.id),
              logDir: this.logDir,
              redisServer: o.redisServer,
              redisCli: o.redisCli,
              nodeTimeoutMs: o.redisNodeTimeoutMs ?? 1000,
              host,
              netns,
            })
          : null;
      const brokers = o.threeBrokerRegion === spec.id ? 3 : spec.kafka.brokers;
      const kafka = withKafka
        ? new KafkaCluster({
            region: spec.id,
            ports: this.ports.ports(spec.index, 'kafka', brokers),
            controllerPorts: this.ports.ports(spec.index, 'kafkaController', brokers),
            dir: join(this.dir, 'kafka', spec.id),
            logDir: this.logDir,
            java,
            libDir,
            heapMb: o.kafkaHeapMb,
            jit: o.kafkaJit,
            host,
            netns,
          })
        : null;
      redis?.on('died', (node, code, sig) => this.#onDied(node, code, sig));
      kafka?.on('died', (broker, code, sig) => this.#onDied(broker, code, sig));
      this.#regions.set(spec.id, { spec, block, redis, kafka });
    }

    const flows = cat.flows.filter((f) => this.#regions.has(f.source) && this.#regions.has(f.target));
    if (withKafka && (o.mirrorMaker ?? true) && flows.length > 0) {
      const clusters = [...this.#regions.values()].map((r) => ({
        id: r.spec.id,
        bootstrap: r.kafka!.bootstrap,
        brokers: r.kafka!.brokers.length,
      }));
      this.#mirrorMaker = new MirrorMaker({
        clusters,
        flows,
        topics: REGION_TOPICS,
        dir: join(this.dir, 'mirrormaker'),
        logDir: this.logDir,
        java,
        libDir,
        // In the WAN each target's MirrorMaker runs beside it, so records cross the emulated WAN.
        placement: this.#wan
          ? Object.fromEntries(flows.map((f) => [f.target, this.#wan!.netns(f.target)]))
          : undefined,
      });
      this.#mirrorMaker.on('died', (proc, code, sig) => this.#onDied(proc, code, sig));
    }
  }

  async #startAll(o: MeshOptions): Promise<void> {
    process.on('exit', this.#exitHandler);
    if (this.#handleSignals) {
      process.on('SIGINT', this.#signalHandler);
      process.on('SIGTERM', this.#signalHandler);
    }
    const t0 = Date.now();
    this.#startedAt = new Date();
    const abort = new AbortController();
    const tasks: Promise<void>[] = [];
    const run = (fn: () => Promise<void>) =>
      tasks.push(
        fn().catch((error) => {
          abort.abort(error);
          throw error;
        }),
      );
    this.#progress(`starting in ${this.dir} (port base ${this.ports.portBase})`);
    if (this.#wan) {
      const t = Date.now();
      await this.#wan.start(abort.signal);
      this.#progress(`wan: namespaces, links and the link emulator ready (${seconds(t)})`);
    }
    // JVMs first: they take longest; the Redis Clusters come up while they boot.
    for (const r of this.#regions.values()) {
      const kafka = r.kafka;
      if (!kafka) continue;
      run(async () => {
        const t = Date.now();
        this.#progress(
          `kafka ${r.spec.id}: starting ${kafka.brokers.length} broker(s) on ${kafka.bootstrap}`,
        );
        await kafka.start(abort.signal);
        await kafka.createTopics(r.spec.kind === 'core' ? CORE_TOPICS : REGION_TOPICS);
        this.#progress(
          `kafka ${r.spec.id}: ready on ${kafka.bootstrap}, topics ${kafka.topics.join(', ') || '(none)'} (${seconds(t)})`,
        );
      });
    }
    for (const r of this.#regions.values()) {
      const redis = r.redis;
      if (!redis) continue;
      run(async () => {
        const t = Date.now();
        this.#progress(
          `redis ${r.spec.id}: starting ${redis.nodes.length} nodes on ports ${redis.ports.join(',')}`,
        );
        await redis.start(abort.signal);
        this.#progress(
          `redis ${r.spec.id}: cluster ready, all 16384 slots covered, replicas attached (${seconds(t)})`,
        );
      });
    }
    const results = await Promise.allSettled(tasks);
    const firstFailure = Mesh.#firstError(results);
    if (firstFailure) throw firstFailure;

    const mm = this.#mirrorMaker;
    if (mm) {
      const t = Date.now();
      this.#progress(
        `mirrormaker: starting flows ${mm.flows.map((f) => `${f.source}->${f.target}`).join(', ')}`,
      );
      await mm.start();
      this.#progress(`mirrormaker: probe records crossed every flow (${seconds(t)})`);
    }
    this.writeInfo();
    this.#progress(`ready in ${seconds(t0)}; connection file ${join(this.dir, 'mesh.json')}`);
    void o;
  }

  /** The most telling error: a service's own failure rather than an abort it caused in others. */
  static #firstError(results: PromiseSettledResult<void>[]): Error | null {
    const errors = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason as Error);
    return (
      errors.find((e) => e instanceof ServiceStartError) ??
      errors.find((e) => e?.name !== 'AbortError') ??
      errors[0] ??
      null
    );
  }

  #onDied(proc: ManagedProcess, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.#stopping || this.#closed) return;
    const reason = sig ? `killed by ${sig}` : `exited with code ${code}`;
    const tail = tailFile(proc.logFile, 10);
    this.#progress(
      `${proc.service} ${reason}; last lines of ${proc.logFile}:\n${tail.map((l) => `    ${l}`).join('\n')}`,
    );
    this.#progress('stopping the mesh');
    this.safeEmit('died', proc.service, reason);
    void this.stop();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Where everything is (also written to mesh.json). */
  get info(): MeshInfo {
    const regions: Record<string, RegionInfo> = {};
    const processes: MeshInfo['processes'] = [];
    for (const r of this.#regions.values()) {
      const { spec, redis, kafka } = r;
      regions[spec.id] = {
        id: spec.id,
        name: spec.name,
        kind: spec.kind,
        index: spec.index,
        edges: spec.edges,
        portBlock: r.block,
        redis: redis
          ? {
              nodes: redis.nodes.map((n) => ({
                host: redis.host,
                port: n.ports[0]!,
                busPort: n.ports[1]!,
                pid: n.pid ?? 0,
              })),
            }
          : null,
        kafka: kafka
          ? {
              clusterId: kafka.clusterId,
              bootstrap: kafka.bootstrap,
              brokers: kafka.brokers.map((b, i) => ({
                nodeId: i + 1,
                host: kafka.host,
                port: kafka.ports[i]!,
                controllerPort: kafka.controllerPorts[i]!,
                pid: b.pid ?? 0,
              })),
              ...kafka.replication,
              topics: [...kafka.topics],
            }
          : null,
      };
      for (const p of [...(redis?.nodes ?? []), ...(kafka?.brokers ?? [])])
        processes.push({ service: p.service, pid: p.pid ?? 0, ports: [...p.ports], log: p.logFile });
    }
    const mm = this.#mirrorMaker;
    for (const p of mm?.processes ?? [])
      processes.push({ service: p.service, pid: p.pid ?? 0, ports: [], log: p.logFile });
    const emulator = this.#wan?.emulator?.process;
    if (emulator)
      processes.push({ service: emulator.service, pid: emulator.pid ?? 0, ports: [], log: emulator.logFile });
    for (const p of this.#extra)
      processes.push({ service: p.service, pid: p.pid ?? 0, ports: [...p.ports], log: p.logFile });
    return {
      version: 1,
      name: this.name,
      dir: this.dir,
      portBase: this.ports.portBase,
      launcherPid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      regions,
      core: [...this.#regions.values()].find((r) => r.spec.kind === 'core')?.spec.id ?? null,
      mirrorMaker: mm
        ? { pid: mm.process.pid ?? 0, flows: mm.flows.map((f) => ({ ...f })), log: mm.process.logFile }
        : null,
      processes,
    };
  }

  get infoFile(): string {
    return join(this.dir, 'mesh.json');
  }

  /** Rewrites mesh.json atomically (after a restart changed a pid). */
  writeInfo(): void {
    const tmp = `${this.infoFile}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.info, null, 2)}\n`);
    renameSync(tmp, this.infoFile);
  }

  #region(id: string): RegionRuntime {
    const r = this.#regions.get(id);
    if (!r)
      throw new Error(
        `mesh ${this.name} has no region "${id}" (has: ${[...this.#regions.keys()].join(', ')})`,
      );
    return r;
  }

  redis(region: string): RedisCluster {
    const r = this.#region(region).redis;
    if (!r) throw new Error(`mesh ${this.name}: region "${region}" runs no Redis Cluster`);
    return r;
  }

  kafka(region: string): KafkaCluster {
    const k = this.#region(region).kafka;
    if (!k) throw new Error(`mesh ${this.name}: region "${region}" runs no Kafka`);
    return k;
  }

  get mirrorMaker(): MirrorMaker | null {
    return this.#mirrorMaker;
  }

  /** The emulated WAN (MeshOptions.wan), or null when every site shares the launcher's loopback. */
  get wan(): Wan | null {
    return this.#wan;
  }

  /** The address a site's (region's or core's) processes listen on and advertise: 127.0.0.1 without the WAN. */
  hostOf(site: string): string {
    return this.#wan ? this.#wan.address(site) : '127.0.0.1';
  }

  /** The network namespace to spawn a site's processes in (`spawn({ netns })`); undefined without the WAN. */
  netnsOf(site: string): string | undefined {
    return this.#wan?.netns(site);
  }

  /**
   * Starts a process on top of the mesh (an edge, a core service) and owns it: it gets
   * MEETVIEW_MESH_FILE in its environment, logs under the mesh's logs/, is stopped before the
   * infrastructure, and its crash stops the mesh like any other. Resolves once its probe is ready.
   */
  async spawn(
    options: Omit<ManagedProcessOptions, 'logFile'> & { logFile?: string },
  ): Promise<ManagedProcess> {
    if (this.#stopping || this.#closed) throw new Error(`mesh ${this.name} is stopping`);
    const proc = new ManagedProcess({
      ...options,
      logFile:
        options.logFile ?? join(this.logDir, `${options.service.replace(/[^A-Za-z0-9_-]+/g, '-')}.log`),
      env: { MEETVIEW_MESH_FILE: this.infoFile, MEETVIEW_MESH: this.name, ...options.env },
      cwd: options.cwd ?? this.dir,
    });
    proc.on('died', (code, sig) => this.#onDied(proc, code, sig));
    this.#extra.push(proc);
    await proc.start();
    this.writeInfo();
    return proc;
  }

  /** kill -9 the node that currently masters the first slot range; returns its port and its replica. */
  async killRedisMaster(region: string): Promise<{ port: number; replicas: number[]; slots: string[] }> {
    const cluster = this.redis(region);
    const topo = await cluster.topology();
    const victim = topo.find((m) => m.replicas.length > 0 && m.slots.length > 0);
    if (!victim) throw new Error(`redis ${region}: no master with a replica`);
    cluster.killNode(victim.master, 'SIGKILL');
    return { port: victim.master, replicas: victim.replicas, slots: victim.slots };
  }

  async restartRedisNode(region: string, port: number): Promise<void> {
    await this.redis(region).restartNode(port);
    this.writeInfo();
  }

  async stopKafkaBroker(
    region: string,
    nodeId: number,
    sig: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  ): Promise<void> {
    await this.kafka(region).stopBroker(nodeId, sig);
  }

  async startKafkaBroker(region: string, nodeId: number): Promise<void> {
    await this.kafka(region).startBroker(nodeId);
    this.writeInfo();
  }

  /** Stops MirrorMaker, then Kafka, then Redis; removes mesh.json (logs stay). Idempotent. */
  stop(): Promise<void> {
    if (!this.#stopping) this.#stopping = this.#stopAll();
    return this.#stopping;
  }

  close(): Promise<void> {
    return this.stop();
  }

  async #stopAll(): Promise<void> {
    const t = Date.now();
    this.#progress('stopping');
    await Promise.all(this.#extra.map((p) => p.stop()));
    await this.#mirrorMaker?.close();
    await Promise.all([...this.#regions.values()].map((r) => r.kafka?.close()));
    await Promise.all([...this.#regions.values()].map((r) => r.redis?.close()));
    // Anything that escaped (a child of a child): by directory, checked alive before the kill.
    await killProcessesUnder(this.dir);
    await this.#wan?.close();
    rmSync(this.infoFile, { force: true });
    process.off('exit', this.#exitHandler);
    if (this.#handleSignals) {
      process.off('SIGINT', this.#signalHandler);
      process.off('SIGTERM', this.#signalHandler);
    }
    this.#closed = true;
    this.#progress(`stopped (${seconds(t)})`);
    this.safeEmit('close');
  }

  #killSync(): void {
    for (const p of this.#extra) p.killSync();
    this.#mirrorMaker?.killSync();
    for (const r of this.#regions.values()) {
      r.kafka?.killSync();
      r.redis?.killSync();
    }
    this.#wan?.killSync();
  }
}
