import { describe, expect, it } from 'vitest';
import { RateLimiter } from './RateLimiter';

describe('RateLimiter', () => {
  it('allows a burst, then refills at the configured rate', () => {
    let now = 0;
    const rl = new RateLimiter(10, 3, () => now);
    expect([rl.take(), rl.take(), rl.take(), rl.take()]).toEqual([true, true, true, false]);
    now += 100; // one token back at 10/s
    expect([rl.take(), rl.take()]).toEqual([true, false]);
    now += 10_000; // refills to the burst, not beyond
    expect([rl.take(), rl.take(), rl.take(), rl.take()]).toEqual([true, true, true, false]);
  });
});
