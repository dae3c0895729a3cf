import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { ManagedProcess } from './ManagedProcess';
import { clusterNodes, clusterSlots, redisCommandAt, redisInfo } from './redisProbe';
import { ServiceStartError } from './ServiceStartError';
import { tailFile, waitFor } from './system';

const execFileAsync = promisify(execFile);
const SLOTS = 16384;

export interface RedisClusterOptions {
  region: string;
  /** Client ports, masters × (1 + replicasPerMaster) of them. */
  ports: readonly number[];
  /** Cluster bus ports, same count (inside the mesh's port block instead of port + 10000). */
  busPorts: readonly number[];
  replicasPerMaster: number;
  /** Data and config go to <dir>/<port>/, logs to <logDir>. */
  dir: string;
  logDir: string;
  redisServer?: string;
  redisCli?: string;
  /** 1000–2000 ms: failover takes about this plus 1–2 s. */
  nodeTimeoutMs?: number;
  /** The address the nodes listen on and announce (default 127.0.0.1; a site's address in the WAN). */
  host?: string;
  /** Network namespace the nodes run in (the emulated WAN). */
  netns?: string;
}

export type RedisClusterEvents = {
  died: [node: ManagedProcess, code: number | null, signal: NodeJS.Signals | null];
};

/** redis.conf for one cluster node. */
export function redisNodeConfig(o: {
  port: number;
  busPort: number;
  dir: string;
  nodeTimeoutMs: number;
  host?: string;
}): string {
  const host = o.host ?? '127.0.0.1';
  return [
    `port ${o.port}`,
    // In a namespace: the site's address (announced to clients and peers) and its own loopback.
    ...(host === '127.0.0.1'
      ? ['bind 127.0.0.1']
      : [`bind ${host} 127.0.0.1`, `cluster-announce-ip ${host}`]),
    'protected-mode no',
    'daemonize no',
    `dir ${o.dir}`,
    'cluster-enabled yes',
    `cluster-port ${o.busPort}`,
    'cluster-config-file nodes.conf',
    `cluster-node-timeout ${o.nodeTimeoutMs}`,
    // A replica may take over whatever its replication lag: availability first, Redis is a cache.
    'cluster-replica-validity-factor 0',
    // Keep serving the slots that still have a master while one shard fails over.
    'cluster-require-full-coverage no',
    // Replicas attach in 1–2 s instead of 5–15 s.
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    'repl-ping-replica-period 1',
    // State that matters is rebuilt from Kafka: no RDB/AOF, so no fork and no slow SIGTERM.
    'save ""',
    'appendonly no',
    'loglevel notice',
    'logfile ""',
    '',
  ].join('\n');
}

/** One region's Redis Cluster: masters + replicas, slots spread by redis-cli, automatic failover. */
export class RedisCluster extends TypedEmitter<RedisClusterEvents> {
  readonly region: string;
  readonly nodes: ManagedProcess[];
  readonly #options: RedisClusterOptions;
  readonly #nodeTimeoutMs: number;
  readonly host: string;
  readonly #byPort = new Map<number, ManagedProcess>();

  constructor(options: RedisClusterOptions) {
    super();
    if (options.ports.length !== options.busPorts.length)
      throw new Error('RedisCluster: ports/busPorts mismatch');
    this.#options = options;
    this.region = options.region;
    this.#nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
    this.host = options.host ?? '127.0.0.1';
    const host = this.host;
    this.nodes = options.ports.map((port, i) => {
      const busPort = options.busPorts[i]!;
      const dir = join(options.dir, String(port));
      const conf = join(dir, 'redis.conf');
      const node = new ManagedProcess({
        service: `redis ${options.region}/${i}`,
        command: options.redisServer ?? 'redis-server',
        args: [conf],
        netns: options.netns,
        installHint: 'install Redis ≥ 7: apt-get install redis-server redis-tools',
        cwd: dir,
        logFile: join(options.logDir, `redis-${options.region}-${port}.log`),
        ports: [port, busPort],
        // Ready when *our* process answers (not another one holding the port).
        ready: async (proc) => (await redisInfo(port, 'server', host)).get('process_id') === String(proc.pid),
        readyTimeoutMs: 15_000,
        readyIntervalMs: 100,
        stopTimeoutMs: 5000,
      });
      node.on('died', (code, sig) => this.safeEmit('died', node, code, sig));
      this.#byPort.set(port, node);
      return node;
    });
  }

  get ports(): readonly number[] {
    return this.#options.ports;
  }

  #writeConfigs(): void {
    const o = this.#options;
    o.ports.forEach((port, i) => {
      const dir = join(o.dir, String(port));
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'redis.conf'),
        redisNodeConfig({
          port,
          busPort: o.busPorts[i]!,
          dir,
          nodeTimeoutMs: this.#nodeTimeoutMs,
          host: this.host,
        }),
      );
    });
  }

  /** Starts the nodes, creates the cluster and waits until it is healthy. */
  async start(signal?: AbortSignal): Promise<void> {
    this.#writeConfigs();
    const results = await Promise.allSettled(this.nodes.map((n) => n.start(signal)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    signal?.throwIfAborted();

    const o = this.#options;
    const createLog = join(o.logDir, `redis-${o.region}-create.log`);
    const cli = o.redisCli ?? 'redis-cli';
    try {
      const { stdout, stderr } = await execFileAsync(
        cli,
        [
          '--cluster',
          'create',
          ...o.ports.map((p) => `${this.host}:${p}`),
          '--cluster-replicas',
          String(o.replicasPerMaster),
          '--cluster-yes',
        ],
        { timeout: 60_000, signal },
      );
      appendFileSync(createLog, stdout + stderr);
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      appendFileSync(createLog, `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}\n`);
      throw new ServiceStartError(
        `redis ${o.region} (cluster create)`,
        o.ports,
        `redis-cli --cluster create failed: ${e.message.split('\n')[0]}`,
        createLog,
        tailFile(createLog),
      );
    }
    try {
      await waitFor(`redis ${o.region} cluster`, () => this.healthy(), { timeoutMs: 30_000, signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ServiceStartError(
        `redis ${o.region} (cluster)`,
        o.ports,
        (error as Error).message,
        createLog,
        tailFile(createLog),
      );
    }
  }

  /**
   * True when all 16384 slots are served, every node sees cluster_state:ok and all nodes, and
   * every master has its replicas attached and online. Throws saying what is missing.
   */
  async healthy(): Promise<boolean> {
    const o = this.#options;
    const live = o.ports.filter((p) => this.#byPort.get(p)?.running);
    const ranges = await clusterSlots(live[0]!, this.host);
    const covered = ranges.reduce((n, r) => n + (r.end - r.start + 1), 0);
    if (covered !== SLOTS) throw new Error(`${covered}/${SLOTS} slots covered`);
    const thin = ranges.find((r) => r.replicas.length < o.replicasPerMaster);
    if (thin)
      throw new Error(
        `slots ${thin.start}-${thin.end}: master ${thin.master} has ${thin.replicas.length} replicas`,
      );
    for (const port of live) {
      const info = String(await redisCommandAt(this.host, port, 'CLUSTER', 'INFO'));
      if (!info.includes('cluster_state:ok')) throw new Error(`node ${port}: cluster_state not ok`);
      const known = /cluster_known_nodes:(\d+)/.exec(info)?.[1];
      if (Number(known) < o.ports.length) throw new Error(`node ${port} knows ${known} nodes`);
    }
    const masters = new Set(ranges.map((r) => r.master));
    for (const master of masters) {
      const repl = await redisInfo(master, 'replication', this.host);
      const online = [...repl.entries()].filter(
        ([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online'),
      ).length;
      if (online < o.replicasPerMaster) throw new Error(`master ${master}: ${online} replicas online`);
    }
    return true;
  }

  /** Current masters (port → the ports of their replicas), as the cluster sees them now. */
  async topology(): Promise<{ master: number; replicas: number[]; slots: string[] }[]> {
    const live = this.#options.ports.find((p) => this.#byPort.get(p)?.running);
    if (live === undefined) throw new Error(`redis ${this.region}: no node running`);
    const nodes = await clusterNodes(live, this.host);
    const masters = nodes.filter((n) => n.flags.includes('master') && !n.flags.includes('fail'));
    return masters.map((m) => ({
      master: m.port,
      replicas: nodes.filter((n) => n.masterId === m.id).map((n) => n.port),
      slots: m.slots,
    }));
  }

  node(port: number): ManagedProcess {
    const node = this.#byPort.get(port);
    if (!node) throw new Error(`redis ${this.region} has no node on port ${port}`);
    return node;
  }

  /** kill -9 (or another signal) one node; the exit is expected, not a crash of the mesh. */
  killNode(port: number, sig: NodeJS.Signals = 'SIGKILL'): void {
    this.node(port).kill(sig);
  }

  /** Starts a stopped node again with its nodes.conf: it rejoins the cluster (as a replica if it was failed over). */
  async restartNode(port: number, signal?: AbortSignal): Promise<void> {
    const node = this.node(port);
    if (node.running) throw new Error(`redis ${this.region} node ${port} is still running`);
    await node.start(signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  killSync(): void {
    for (const n of this.nodes) n.killSync();
  }
}
