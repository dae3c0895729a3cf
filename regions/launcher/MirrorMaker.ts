import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logLevel } from 'kafkajs';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import {
  createKafka,
  createProducer,
  MESH_PROBE_TOPIC,
  mirroredTopic,
  type TopicSpec,
} from '../../lib/kafka';
import { jvmFlags, quietLog4j } from './kafkaRuntime';
import { ManagedProcess } from './ManagedProcess';
import { type MirrorCluster, type MirrorFlow, mirrorMakerProperties } from './mirrorMakerConfig';

export interface MirrorMakerOptions {
  clusters: readonly MirrorCluster[];
  flows: readonly MirrorFlow[];
  topics: readonly TopicSpec[];
  dir: string;
  logDir: string;
  java: string;
  libDir: string;
  heapMb?: number;
  readyTimeoutMs?: number;
  /**
   * One MirrorMaker per target cluster, inside that cluster's network namespace (the emulated WAN):
   * target id → netns. Each runs only the flows into its target (`--clusters <target>`), so a record
   * crosses the WAN once, from the source's brokers to the consumer beside the target, as MM2 is
   * deployed between real regions. Unset: one process on the launcher's network for every flow.
   */
  placement?: Readonly<Record<string, string>>;
}

export type MirrorMakerEvents = {
  died: [proc: ManagedProcess, code: number | null, signal: NodeJS.Signals | null];
};

/**
 * MirrorMaker 2 (dedicated mode, one JVM for every flow, or one per target with `placement`). Ready
 * when a probe record produced in each source region has really crossed every flow
 * (`<source>.mesh-probe` in each target).
 */
export class MirrorMaker extends TypedEmitter<MirrorMakerEvents> {
  /** One per target with `placement`, else one. */
  readonly processes: ManagedProcess[];
  readonly flows: readonly MirrorFlow[];
  readonly propertiesFile: string;
  readonly #options: MirrorMakerOptions;
  readonly #probeSent = new Set<string>();

  constructor(options: MirrorMakerOptions) {
    super();
    this.#options = options;
    this.flows = options.flows;
    this.propertiesFile = join(options.dir, 'mm2.properties');
    const log4j = join(options.dir, 'log4j.properties');
    const placement = options.placement;
    const targets: (string | null)[] = placement ? [...new Set(options.flows.map((f) => f.target))] : [null];
    if (placement)
      for (const t of targets)
        if (!placement[t!]) throw new Error(`MirrorMaker: no namespace for target "${t}"`);
    this.processes = targets.map((target) => {
      const flows = target === null ? options.flows : options.flows.filter((f) => f.target === target);
      const proc = new ManagedProcess({
        service: target === null ? 'mirrormaker' : `mirrormaker ->${target}`,
        command: options.java,
        args: [
          ...jvmFlags(options.heapMb ?? 384),
          `-Dlog4j.configuration=file:${log4j}`,
          '-cp',
          `${options.libDir}/*`,
          'org.apache.kafka.connect.mirror.MirrorMaker',
          this.propertiesFile,
          ...(target === null ? [] : ['--clusters', target]),
        ],
        netns: target === null ? undefined : placement![target],
        cwd: options.dir,
        logFile: join(options.logDir, target === null ? 'mirrormaker.log' : `mirrormaker-${target}.log`),
        ready: () => this.#probe(flows),
        installHint: 'install Java 17: apt-get install openjdk-17-jre-headless, or set JAVA',
        readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
        readyIntervalMs: 500,
        stopTimeoutMs: 15_000,
      });
      proc.on('died', (code, sig) => this.safeEmit('died', proc, code, sig));
      return proc;
    });
  }

  /** The (first) process. */
  get process(): ManagedProcess {
    return this.processes[0]!;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const o = this.#options;
    mkdirSync(o.dir, { recursive: true });
    writeFileSync(this.propertiesFile, mirrorMakerProperties(o.clusters, o.flows, o.topics));
    writeFileSync(
      join(o.dir, 'log4j.properties'),
      quietLog4j(['org.apache.kafka.connect.mirror.MirrorMaker']),
    );
    this.#probeSent.clear();
    const results = await Promise.allSettled(this.processes.map((p) => p.start(signal)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw (failed as PromiseRejectedResult).reason;
    }
  }

  #cluster(id: string): MirrorCluster {
    const c = this.#options.clusters.find((x) => x.id === id);
    if (!c) throw new Error(`no cluster ${id}`);
    return c;
  }

  /** Sends one probe record per source (once), then checks that every target has its mirrored copy. */
  async #probe(flows: readonly MirrorFlow[]): Promise<boolean> {
    const sources = [...new Set(flows.map((f) => f.source))];
    for (const source of sources) {
      if (this.#probeSent.has(source)) continue;
      const kafka = createKafka({
        brokers: this.#cluster(source).bootstrap,
        clientId: 'mesh-mm2-probe',
        logLevel: logLevel.NOTHING,
      });
      const producer = createProducer(kafka);
      try {
        await producer.connect();
        await producer.send({
          topic: MESH_PROBE_TOPIC,
          acks: -1,
          messages: [{ key: 'probe', value: JSON.stringify({ probe: randomUUID(), at: Date.now() }) }],
        });
      } finally {
        await producer.disconnect();
      }
      this.#probeSent.add(source);
    }
    for (const flow of flows) {
      const kafka = createKafka({
        brokers: this.#cluster(flow.target).bootstrap,
        clientId: 'mesh-mm2-probe',
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      try {
        await admin.connect();
        const topic = mirroredTopic(flow.source, MESH_PROBE_TOPIC);
        if (!(await admin.listTopics()).includes(topic)) return false;
        const offsets = await admin.fetchTopicOffsets(topic);
        if (!offsets.some((p) => Number(p.high) > 0)) return false;
      } finally {
        await admin.disconnect();
      }
    }
    return true;
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }

  killSync(): void {
    for (const p of this.processes) p.killSync();
  }
}
