import { describe, expect, it } from 'vitest';
import { decodePosition, encodePosition, PositionError } from './Positions';

describe('positions', () => {
  it('round-trips a vector of partition offsets', () => {
    const v = new Map([
      ['seoul.room-events/0', 12],
      ['frankfurt.room-events/5', 0],
    ]);
    expect(decodePosition(encodePosition(v))).toEqual(v);
    expect(decodePosition(encodePosition(new Map()))).toEqual(new Map());
  });

  it('refuses what it did not give out', () => {
    expect(() => decodePosition('garbage')).toThrow(PositionError);
    expect(() => decodePosition(Buffer.from('v1;a/0=x').toString('base64url'))).toThrow(PositionError);
  });
});
