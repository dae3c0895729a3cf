import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Admin, logLevel } from 'kafkajs';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import {
  createKafka,
  ensureTopics,
  replicationFor,
  type TopicSpec,
  waitForGroupCoordinator,
} from '../../lib/kafka';
import { type JitMode, jvmFlags, quietLog4j } from './kafkaRuntime';
import { ManagedProcess } from './ManagedProcess';
import { ServiceStartError } from './ServiceStartError';
import { tailFile } from './system';

const execFileAsync = promisify(execFile);

export interface KafkaClusterOptions {
  /** Region or core id. */
  region: string;
  /** One PLAINTEXT port per broker (1 or 3 brokers). */
  ports: readonly number[];
  /** One KRaft controller port per broker (each broker is also a controller). */
  controllerPorts: readonly number[];
  dir: string;
  logDir: string;
  java: string;
  libDir: string;
  heapMb?: number;
  /** The brokers' JIT (see jvmFlags): 'quick' (default) for tests and `npm start`, 'full' for benchmarks. */
  jit?: JitMode;
  readyTimeoutMs?: number;
  /** The address brokers listen on and advertise (default 127.0.0.1; a site's address in the WAN). */
  host?: string;
  /** Network namespace the brokers run in (the emulated WAN). */
  netns?: string;
}

export type KafkaClusterEvents = {
  died: [broker: ManagedProcess, code: number | null, signal: NodeJS.Signals | null];
};

/** A KRaft cluster id: 16 random bytes, base64url, as `kafka-storage random-uuid` prints (never starting with '-'). */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** server.properties of broker `nodeId` (1-based) in a cluster of `ports.length` combined broker+controllers. */
export function kafkaServerProperties(o: {
  nodeId: number;
  ports: readonly number[];
  controllerPorts: readonly number[];
  logDir: string;
  host?: string;
}): string {
  const host = o.host ?? '127.0.0.1';
  const n = o.ports.length;
  const { replicationFactor, minInsyncReplicas } = replicationFor(n);
  const i = o.nodeId - 1;
  const voters = o.controllerPorts.map((p, k) => `${k + 1}@${host}:${p}`).join(',');
  return [
    'process.roles=broker,controller',
    `node.id=${o.nodeId}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${host}:${o.ports[i]},CONTROLLER://${host}:${o.controllerPorts[i]}`,
    `advertised.listeners=PLAINTEXT://${host}:${o.ports[i]}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${o.logDir}`,
    // Few threads: a laptop mesh runs several brokers on 2 cores.
    'num.network.threads=2',
    'num.io.threads=2',
    'background.threads=2',
    'num.recovery.threads.per.data.dir=1',
    'num.replica.fetchers=1',
    // Topics are created explicitly, with their replication.
    'auto.create.topics.enable=false',
    'num.partitions=1',
    `default.replication.factor=${replicationFactor}`,
    `min.insync.replicas=${minInsyncReplicas}`,
    'unclean.leader.election.enable=false',
    `offsets.topic.replication.factor=${replicationFactor}`,
    'offsets.topic.num.partitions=6',
    `transaction.state.log.replication.factor=${replicationFactor}`,
    `transaction.state.log.min.isr=${minInsyncReplicas}`,
    'transaction.state.log.num.partitions=6',
    // A new consumer group's first join does not wait 3 s.
    'group.initial.rebalance.delay.ms=0',
    // A lost broker is fenced and dropped from the ISR in seconds, not 9–30 s.
    'broker.heartbeat.interval.ms=500',
    'broker.session.timeout.ms=3000',
    'replica.lag.time.max.ms=5000',
    'controller.quorum.election.timeout.ms=1000',
    'controller.quorum.fetch.timeout.ms=2000',
    'log.segment.bytes=67108864',
    '',
  ].join('\n');
}

/** One region's (or the core's) Kafka: 1 or 3 KRaft brokers, each broker+controller. */
export class KafkaCluster extends TypedEmitter<KafkaClusterEvents> {
  readonly region: string;
  readonly brokers: ManagedProcess[];
  readonly clusterId = randomClusterId();
  readonly #options: KafkaClusterOptions;
  #topics: string[] = [];

  constructor(options: KafkaClusterOptions) {
    super();
    if (options.ports.length !== options.controllerPorts.length)
      throw new Error('KafkaCluster: ports mismatch');
    this.#options = options;
    this.region = options.region;
    const heap = options.heapMb ?? 320;
    this.brokers = options.ports.map((port, i) => {
      const nodeId = i + 1;
      const brokerDir = join(options.dir, `broker-${nodeId}`);
      const log4j = join(brokerDir, 'log4j.properties');
      const broker = new ManagedProcess({
        service: `kafka ${options.region}/${nodeId}`,
        command: options.java,
        args: [
          ...jvmFlags(heap, options.jit),
          `-Dlog4j.configuration=file:${log4j}`,
          `-Dkafka.logs.dir=${join(brokerDir, 'logs')}`,
          '-cp',
          `${options.libDir}/*`,
          'kafka.Kafka',
          join(brokerDir, 'server.properties'),
        ],
        cwd: brokerDir,
        logFile: join(options.logDir, `kafka-${options.region}-${nodeId}.log`),
        ports: [port, options.controllerPorts[i]!],
        netns: options.netns,
        ready: () => this.#brokerRegistered(nodeId),
        installHint: 'install Java 17: apt-get install openjdk-17-jre-headless, or set JAVA',
        failOn:
          /Socket server failed to bind|Fatal error during (broker|controller|KafkaServer) startup|Exiting Kafka/,
        readyTimeoutMs: options.readyTimeoutMs ?? 90_000,
        readyIntervalMs: 500,
        stopTimeoutMs: 15_000,
      });
      broker.on('died', (code, sig) => this.safeEmit('died', broker, code, sig));
      return broker;
    });
  }

  /** host:port,… of all brokers. */
  get bootstrap(): string {
    return this.#options.ports.map((p) => `${this.host}:${p}`).join(',');
  }

  /** The address the brokers listen on. */
  get host(): string {
    return this.#options.host ?? '127.0.0.1';
  }

  get ports(): readonly number[] {
    return this.#options.ports;
  }

  get controllerPorts(): readonly number[] {
    return this.#options.controllerPorts;
  }

  get topics(): readonly string[] {
    return this.#topics;
  }

  get replication(): { replicationFactor: number; minInsyncReplicas: number } {
    return replicationFor(this.brokers.length);
  }

  /** Running brokers' bootstrap (a stopped broker would only slow clients down). */
  liveBootstrap(): string[] {
    return this.#options.ports.filter((_, i) => this.brokers[i]!.running).map((p) => `${this.host}:${p}`);
  }

  async #withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const kafka = createKafka({
      brokers: this.liveBootstrap(),
      clientId: `mesh-launcher-${this.region}`,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
    });
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      // Inside the try: a failed connect must still close its socket (a foreign server on our port).
      await admin.connect();
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  }

  /** Ready: the cluster answers with *our* cluster id and lists this broker as registered. */
  async #brokerRegistered(nodeId: number): Promise<boolean> {
    const d = await this.#withAdmin((admin) => admin.describeCluster());
    if (d.clusterId !== this.clusterId)
      throw new Error(`port answers with cluster id ${d.clusterId}, not ours (${this.clusterId})`);
    return d.brokers.some((b) => b.nodeId === nodeId);
  }

  #writeConfig(nodeId: number): string {
    const o = this.#options;
    const brokerDir = join(o.dir, `broker-${nodeId}`);
    mkdirSync(join(brokerDir, 'logs'), { recursive: true });
    writeFileSync(
      join(brokerDir, 'server.properties'),
      kafkaServerProperties({
        nodeId,
        ports: o.ports,
        controllerPorts: o.controllerPorts,
        logDir: join(brokerDir, 'data'),
        host: o.host,
      }),
    );
    writeFileSync(
      join(brokerDir, 'log4j.properties'),
      quietLog4j(['kafka.server.BrokerServer', 'kafka.Kafka']),
    );
    return brokerDir;
  }

  /** `kafka-storage format` with this cluster's id (one short JVM per broker). */
  async #format(nodeId: number, signal?: AbortSignal): Promise<void> {
    const o = this.#options;
    const brokerDir = this.#writeConfig(nodeId);
    const logFile = join(o.logDir, `kafka-${o.region}-${nodeId}.log`);
    mkdirSync(o.logDir, { recursive: true });
    const service = `kafka ${o.region}/${nodeId} (storage format)`;
    try {
      const { stdout, stderr } = await execFileAsync(
        o.java,
        [
          '-Xmx128m',
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          `-Dlog4j.configuration=file:${join(brokerDir, 'log4j.properties')}`,
          '-cp',
          `${o.libDir}/*`,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          this.clusterId,
          '-c',
          join(brokerDir, 'server.properties'),
        ],
        { timeout: 60_000, signal },
      );
      appendFileSync(logFile, stdout + stderr);
    } catch (error) {
      if (signal?.aborted) throw error;
      const e = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
      appendFileSync(logFile, `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}\n`);
      const reason =
        e.code === 'ENOENT'
          ? `cannot run ${o.java}: not found (install Java 17: apt-get install openjdk-17-jre-headless, or set JAVA)`
          : `storage format failed: ${e.message.split('\n')[0]}`;
      throw new ServiceStartError(
        service,
        [o.ports[nodeId - 1]!, o.controllerPorts[nodeId - 1]!],
        reason,
        logFile,
        tailFile(logFile),
      );
    }
  }

  /** Formats storage, starts every broker and waits until all are registered. */
  async start(signal?: AbortSignal): Promise<void> {
    const formats = await Promise.allSettled(this.brokers.map((_, i) => this.#format(i + 1, signal)));
    const bad = formats.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    const results = await Promise.allSettled(this.brokers.map((b) => b.start(signal)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Creates topics (partitions, this cluster's RF and min ISR), then waits for the group coordinator. */
  async createTopics(topics: readonly TopicSpec[]): Promise<void> {
    try {
      await this.#withAdmin(async (admin) => {
        await ensureTopics(admin, topics, this.replication);
        await waitForGroupCoordinator(admin, 60_000);
      });
    } catch (error) {
      const b = this.brokers[0]!;
      throw new ServiceStartError(
        `kafka ${this.region} (topics)`,
        this.ports,
        `creating topics ${topics.map((t) => t.name).join(', ')} failed: ${(error as Error).message}`,
        b.logFile,
        b.lastLogLines(),
      );
    }
    this.#topics = [...new Set([...this.#topics, ...topics.map((t) => t.name)])];
  }

  broker(nodeId: number): ManagedProcess {
    const b = this.brokers[nodeId - 1];
    if (!b) throw new Error(`kafka ${this.region} has no broker ${nodeId} (1..${this.brokers.length})`);
    return b;
  }

  /** Stops one broker: SIGTERM = controlled shutdown, SIGKILL = a crash. Either is an expected exit. */
  async stopBroker(nodeId: number, sig: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const b = this.broker(nodeId);
    if (sig === 'SIGKILL') {
      b.kill('SIGKILL');
      await new Promise<void>((resolve) => (b.running ? b.once('exit', () => resolve()) : resolve()));
    } else await b.stop();
  }

  /** Starts a stopped broker again on its existing storage and waits until it is registered. */
  async startBroker(nodeId: number, signal?: AbortSignal): Promise<void> {
    const b = this.broker(nodeId);
    if (b.running) throw new Error(`${b.service} is already running`);
    await b.start(signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.stop()));
  }

  killSync(): void {
    for (const b of this.brokers) b.killSync();
  }
}
