import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from './KeyedProducer';

// The reference: what kafkajs' own producer computes for a keyed record (no partition given); its
// partitioner reads only how many partitions there are and which have a leader.
function kafkajsPartition(key: string | Buffer, partitions: number): number {
  const partitionMetadata = [...Array(partitions).keys()].map((id) => ({ partitionId: id, leader: 1 }));
  return Partitioners.DefaultPartitioner()({
    topic: 'chat',
    partitionMetadata: partitionMetadata as PartitionMetadata[],
    message: { key, value: null },
  });
}

describe('partitionForKey', () => {
  it('gives the partition kafkajs gives, for string and Buffer keys, again and again', () => {
    const rooms = ['a', 'standup', 'room-1', '회의실', 'x'.repeat(300)];
    for (const partitions of [1, 3, 6, 12]) {
      for (const room of rooms) {
        const expected = kafkajsPartition(room, partitions);
        expect(partitionForKey('chat', room, partitions)).toBe(expected);
        expect(partitionForKey('chat', room, partitions), 'remembered').toBe(expected);
        expect(partitionForKey('chat', Buffer.from(room), partitions)).toBe(expected);
      }
    }
    // Not every key in one partition (a constant would pass the loop above with 1 partition only).
    expect(new Set(rooms.map((r) => partitionForKey('chat', r, 12))).size).toBeGreaterThan(1);
  });

  it('stays right after forgetting: more keys than it remembers', () => {
    const partitions = 6;
    for (let i = 0; i < 100_500; i++) partitionForKey('chat', `room-${i}`, partitions);
    for (const i of [0, 1, 99_999, 100_000, 100_499])
      expect(partitionForKey('chat', `room-${i}`, partitions)).toBe(
        kafkajsPartition(`room-${i}`, partitions),
      );
  });
});
