import {
  type Admin,
  type Consumer,
  type ConsumerConfig,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';
import type { TopicSpec } from './topics';

export interface KafkaClientOptions {
  /** host:port list, e.g. the region's `bootstrap` from the mesh file. */
  brokers: string[] | string;
  clientId: string;
  /** kafkajs logs at ERROR by default here: its INFO lines are noise in tests and in the mesh. */
  logLevel?: logLevel;
  connectionTimeout?: number;
  requestTimeout?: number;
}

/** A kafkajs client for one cluster (one region or the core). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const brokers = Array.isArray(options.brokers) ? options.brokers : options.brokers.split(',');
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers,
    logLevel: options.logLevel ?? logLevel.ERROR,
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 30_000,
    // Retries must outlast a broker restart or a leader election (a few seconds).
    retry: { initialRetryTime: 100, retries: 10, maxRetryTime: 2000 },
  };
  return new Kafka(config);
}

/**
 * The project's producer: idempotent, acks=all (acks -1 is passed on every send by `send()` below).
 * kafkajs keeps idempotence safe only with one request in flight per broker.
 */
export function createProducer(kafka: Kafka, overrides: Partial<ProducerConfig> = {}): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    ...overrides,
  });
}

/** Acks for every send: all in-sync replicas (idempotence requires it). */
export const ACKS_ALL = -1;

/**
 * A consumer for the project's topics, session timeout ≥ 6 s. The fetch wait only bounds an idle fetch:
 * a record that arrives while a fetch waits is answered at once (minBytes 1), so a long wait costs no
 * latency, while a short one makes every idle consumer a steady stream of empty fetches for the broker.
 */
export function createConsumer(kafka: Kafka, config: ConsumerConfig): Consumer {
  return kafka.consumer({
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    allowAutoTopicCreation: false,
    ...config,
  });
}

/**
 * Resolves when the consumer has joined its group (partitions assigned). Call before run(): from then on
 * nothing produced to its topics is missed.
 */
export function groupJoined(consumer: Consumer): Promise<void> {
  return new Promise<void>((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      off();
      resolve();
    });
  });
}

/** Creates the topics that do not exist yet, with partitions, replication factor and min ISR. */
export async function ensureTopics(
  admin: Admin,
  topics: readonly TopicSpec[],
  replication: { replicationFactor: number; minInsyncReplicas: number },
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.name));
  if (missing.length === 0) return;
  await admin.createTopics({
    // kafkajs' own wait gives up on "does not host this topic-partition", which a broker of a
    // fresh multi-broker cluster answers until it has the new metadata: wait here instead.
    waitForLeaders: false,
    topics: missing.map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor: replication.replicationFactor,
      configEntries: [
        { name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) },
        { name: 'retention.ms', value: String(t.retentionMs) },
      ],
    })),
  });
  await waitForLeaders(
    admin,
    missing.map((t) => t.name),
  );
}

/** Waits until every partition of the topics has a leader and a full ISR. */
export async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      const bad = meta.topics.flatMap((t) =>
        t.partitions
          .filter((p) => p.leader < 0 || p.isr.length < p.replicas.length)
          .map((p) => `${t.name}/${p.partitionId}`),
      );
      if (meta.topics.length === topics.length && bad.length === 0) return;
      last = `no leader or short ISR: ${bad.slice(0, 5).join(', ')}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`topics ${topics.join(', ')} not ready after ${timeoutMs} ms: ${last}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the cluster's group coordinator answers. On a fresh broker the first group requests
 * fail with retriable "coordinator is loading" errors while __consumer_offsets is created; a
 * consumer started then restarts once, which disturbs the first measurements.
 */
export async function waitForGroupCoordinator(admin: Admin, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const group = `meetview-coordinator-probe`;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      // kafkajs finds the coordinator (retrying while it loads) and throws on a group error code.
      const { groups } = await admin.describeGroups([group]);
      if (groups.length === 1) return;
      lastError = new Error('describeGroups returned no group');
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  throw new Error(`group coordinator not available after ${timeoutMs} ms: ${(lastError as Error)?.message}`);
}
