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
}

export type MirrorMakerEvents = { died: [code: number | null, signal: NodeJS.Signals | null] };

/**
 * MirrorMaker 2 (dedicated mode, one JVM for every flow). Ready when a probe record produced in
 * each source region has really crossed every flow (`<source>.mesh-probe` in each target).
 */
export class MirrorMaker extends TypedEmitter<MirrorMakerEvents> {
  readonly process: ManagedProcess;
  readonly flows: readonly MirrorFlow[];
  readonly propertiesFile: string;
  readonly #options: MirrorMakerOptions;
  #probeSent = false;

  constructor(options: MirrorMakerOptions) {
    super();
    this.#options = options;
    this.flows = options.flows;
    this.propertiesFile = join(options.dir, 'mm2.properties');
    const log4j = join(options.dir, 'log4j.properties');
    this.process = new ManagedProcess({
      service: 'mirrormaker',
      command: options.java,
      args: [
        ...jvmFlags(options.heapMb ?? 384),
        `-Dlog4j.configuration=file:${log4j}`,
        '-cp',
        `${options.libDir}/*`,
        'org.apache.kafka.connect.mirror.MirrorMaker',
        this.propertiesFile,
      ],
      cwd: options.dir,
      logFile: join(options.logDir, 'mirrormaker.log'),
      ready: () => this.#probe(),
      installHint: 'install Java 17: apt-get install openjdk-17-jre-headless, or set JAVA',
      readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
      readyIntervalMs: 500,
      stopTimeoutMs: 15_000,
    });
    this.process.on('died', (code, sig) => this.safeEmit('died', code, sig));
  }

  async start(signal?: AbortSignal): Promise<void> {
    const o = this.#options;
    mkdirSync(o.dir, { recursive: true });
    writeFileSync(this.propertiesFile, mirrorMakerProperties(o.clusters, o.flows, o.topics));
    writeFileSync(
      join(o.dir, 'log4j.properties'),
      quietLog4j(['org.apache.kafka.connect.mirror.MirrorMaker']),
    );
    this.#probeSent = false;
    await this.process.start(signal);
  }

  #cluster(id: string): MirrorCluster {
    const c = this.#options.clusters.find((x) => x.id === id);
    if (!c) throw new Error(`no cluster ${id}`);
    return c;
  }

  /** Sends one probe record per source (once), then checks that every target has its mirrored copy. */
  async #probe(): Promise<boolean> {
    const sources = [...new Set(this.flows.map((f) => f.source))];
    if (!this.#probeSent) {
      for (const source of sources) {
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
      }
      this.#probeSent = true;
    }
    for (const flow of this.flows) {
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
    await this.process.stop();
  }

  killSync(): void {
    this.process.killSync();
  }
}
