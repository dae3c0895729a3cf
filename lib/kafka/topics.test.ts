import { describe, expect, it } from 'vitest';
import { mirroredTopic, parseMirroredTopic, REGION_TOPICS, replicationFor } from './topics';

describe('topics', () => {
  it('names mirrored topics like MirrorMaker 2 DefaultReplicationPolicy', () => {
    expect(mirroredTopic('seoul', 'chat')).toBe('seoul.chat');
    expect(parseMirroredTopic('seoul.chat')).toEqual({ source: 'seoul', topic: 'chat' });
    expect(parseMirroredTopic('chat')).toBeNull();
  });

  it('has the region topics the edges use, none with a dot', () => {
    const names = REGION_TOPICS.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['chat', 'room-events', 'file-offers']));
    for (const n of names) expect(n).not.toContain('.');
  });

  it('uses RF 3 / min ISR 2 on three brokers, 1 / 1 on one', () => {
    expect(replicationFor(3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(replicationFor(1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
  });
});
