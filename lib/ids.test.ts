import { decodeTime, isValid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { newId } from './ids';

describe('newId', () => {
  it('makes valid, unique ULIDs in the order they were made, with the current time', () => {
    const before = Date.now();
    const ids = Array.from({ length: 5000 }, () => newId());
    expect(ids.every((id) => isValid(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(decodeTime(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(ids.at(-1)!)).toBeLessThanOrEqual(Date.now());
  });

  it('spreads its random part (no constant or short cycle)', () => {
    const randomParts = new Set(Array.from({ length: 2000 }, () => newId().slice(10, 16)));
    // Monotonic ids within one millisecond share a prefix of the random part; across ms they differ.
    expect(randomParts.size).toBeGreaterThan(1);
  });
});
