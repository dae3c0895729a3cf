import { describe, expect, it } from 'vitest';
import { roomKey, roomTag } from './keys';

describe('room keys', () => {
  it('hash-tags every key with the room so a room lives in one slot', () => {
    expect(roomTag('r1')).toBe('{r1}');
    expect(roomKey('r1', 'participants')).toBe('room:{r1}:participants');
    expect(roomKey('team.standup', 'chat', 'cache')).toBe('room:{team.standup}:chat:cache');
  });

  it('rejects room ids and parts that would break the tag', () => {
    expect(() => roomKey('a}b', 'x')).toThrow(/invalid room id/);
    expect(() => roomKey('', 'x')).toThrow(/invalid room id/);
    expect(() => roomKey('r', '{x}')).toThrow(/invalid key part/);
    expect(() => roomKey('r', '')).toThrow(/invalid key part/);
  });
});
