import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../lib/media/workerBin';

const POM = fileURLToPath(new URL('../../scripts/kafka/pom.xml', import.meta.url));

/** The Kafka version pinned in scripts/kafka/pom.xml (the one place it is written). */
export function kafkaVersion(): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!match?.[1]) throw new Error(`no <kafka.version> in ${POM}`);
  return match[1];
}

/** Where scripts/kafka/fetch-jars.sh puts the jars: <cache>/kafka/<version>/lib. */
export function defaultKafkaLibDir(): string {
  return join(cacheRoot(), 'kafka', kafkaVersion(), 'lib');
}

/** Checks the jar folder; throws with the command that fills it. */
export function assertKafkaLib(libDir: string): void {
  const version = kafkaVersion();
  const marker = `kafka_2.13-${version}.jar`;
  const ok =
    existsSync(libDir) &&
    readdirSync(libDir).includes(marker) &&
    readdirSync(libDir).includes(`connect-mirror-${version}.jar`);
  if (!ok)
    throw new Error(
      `Kafka ${version} jars not found in ${libDir} (looked for ${marker}): run \`bash scripts/kafka/fetch-jars.sh\``,
    );
}

/** The java executable: the option, else $JAVA, else $JAVA_HOME/bin/java, else `java` on PATH. */
export function defaultJava(): string {
  if (process.env.JAVA) return process.env.JAVA;
  if (process.env.JAVA_HOME) return join(process.env.JAVA_HOME, 'bin', 'java');
  return 'java';
}

/**
 * 'quick': C1 only, a JVM starts in about half the CPU time, and throughput is plenty for tests and a
 * laptop mesh. 'full': the JVM's normal tiered compilation (C2), as a production broker runs.
 */
export type JitMode = 'quick' | 'full';

/**
 * JVM flags for the local mesh: a small heap and the serial collector (few threads, little memory on 2
 * cores), and the JIT mode.
 */
export function jvmFlags(heapMb: number, jit: JitMode = 'quick'): string[] {
  return [
    `-Xms${Math.min(64, heapMb)}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseSerialGC',
    ...(jit === 'quick' ? ['-XX:TieredStopAtLevel=1'] : []),
    '-Xss512k',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
  ];
}

/** A reload4j configuration that keeps only warnings and the lines that say a service is up. */
export function quietLog4j(extraInfoLoggers: readonly string[] = []): string {
  return [
    'log4j.rootLogger=WARN, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    // Noisy at WARN on every start/stop of a local cluster.
    'log4j.logger.org.apache.kafka.clients.NetworkClient=ERROR',
    'log4j.logger.org.apache.kafka.clients.admin.AdminClientConfig=ERROR',
    'log4j.logger.org.apache.kafka.clients.consumer.ConsumerConfig=ERROR',
    'log4j.logger.org.apache.kafka.clients.producer.ProducerConfig=ERROR',
    ...extraInfoLoggers.map((l) => `log4j.logger.${l}=INFO`),
    '',
  ].join('\n');
}
