/**
 * Kafka topic names, in one place: the launcher creates them, edges and the core produce to and
 * consume from them, MirrorMaker 2 mirrors them. Records are keyed by room so one room stays ordered.
 */

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Retention of the local log; the archive in the core keeps history for longer. */
  readonly retentionMs: number;
}

const DAY = 24 * 60 * 60 * 1000;

/** Chat messages (protobuf envelopes), keyed by room. */
export const CHAT_TOPIC = 'chat';
/** Joined, left, published, unpublished, room closed; keyed by room. */
export const ROOM_EVENTS_TOPIC = 'room-events';
/** File offers (the metadata; file bytes travel elsewhere); keyed by room. */
export const FILE_OFFERS_TOPIC = 'file-offers';
/**
 * The launcher's own readiness probe for MirrorMaker 2: a record produced here in a region must
 * appear as `<region>.mesh-probe` in every flow target. Application code ignores it.
 */
export const MESH_PROBE_TOPIC = 'mesh-probe';

/** The topics every region owns; each is mirrored to the other regions and to the core. */
export const REGION_TOPICS: readonly TopicSpec[] = [
  { name: CHAT_TOPIC, partitions: 6, retentionMs: 7 * DAY },
  { name: ROOM_EVENTS_TOPIC, partitions: 6, retentionMs: 7 * DAY },
  { name: FILE_OFFERS_TOPIC, partitions: 3, retentionMs: 7 * DAY },
  { name: MESH_PROBE_TOPIC, partitions: 1, retentionMs: DAY },
];

/** Topics owned by the core region itself (nothing yet; mirrored topics arrive from the regions). */
export const CORE_TOPICS: readonly TopicSpec[] = [];

/** MirrorMaker 2's DefaultReplicationPolicy: a topic `t` from region `source` is `source.t` elsewhere. */
export function mirroredTopic(sourceRegion: string, topic: string): string {
  return `${sourceRegion}.${topic}`;
}

/** Splits a mirrored topic name into its source region and topic; null for a region's own topic. */
export function parseMirroredTopic(name: string): { source: string; topic: string } | null {
  const dot = name.indexOf('.');
  if (dot <= 0) return null;
  return { source: name.slice(0, dot), topic: name.slice(dot + 1) };
}

/**
 * The MirrorMaker 2 `topics` regex list: exactly the regions' own topics. An already mirrored
 * topic (`seoul.chat`) never matches, so nothing is re-replicated onward or back to its source.
 */
export function mirrorTopicsPattern(topics: readonly TopicSpec[] = REGION_TOPICS): string {
  return topics.map((t) => `^${t.name.replace(/[.-]/g, (c) => `\\${c}`)}$`).join(',');
}

/** Replication settings for a cluster of `brokers` brokers: RF 3 / min ISR 2 on 3, else 1 / 1. */
export function replicationFor(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  return brokers >= 3
    ? { replicationFactor: 3, minInsyncReplicas: 2 }
    : { replicationFactor: 1, minInsyncReplicas: 1 };
}
