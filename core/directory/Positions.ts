/**
 * A position in the merged stream of every region's room events: for each topic-partition, the offset
 * of the last record delivered. Per partition the order is Kafka's, so "everything after this position"
 * is exactly the records whose offset is above the position's offset for their partition: a resumed
 * stream misses nothing and repeats nothing, whatever order the partitions were merged in.
 */
export type PositionVector = Map<string, number>;

export class PositionError extends Error {
  override readonly name = 'PositionError';
}

const PREFIX = 'v1;';

export function encodePosition(vector: PositionVector): string {
  const parts = [...vector].map(([tp, offset]) => `${tp}=${offset}`);
  return Buffer.from(PREFIX + parts.join(','), 'utf8').toString('base64url');
}

export function decodePosition(position: string): PositionVector {
  let text: string;
  try {
    text = Buffer.from(position, 'base64url').toString('utf8');
  } catch {
    throw new PositionError('the position is not one this server gave out');
  }
  if (!text.startsWith(PREFIX)) throw new PositionError('the position is not one this server gave out');
  const vector: PositionVector = new Map();
  for (const part of text.slice(PREFIX.length).split(',').filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const offset = Number(part.slice(eq + 1));
    if (eq <= 0 || !Number.isSafeInteger(offset) || offset < -1)
      throw new PositionError('the position is not one this server gave out');
    vector.set(part.slice(0, eq), offset);
  }
  return vector;
}

/** "topic/partition", the key of a position vector entry. */
export function topicPartition(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
