import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * ULIDs (time-ordered, 128-bit, unique across processes) at the cost of a few string operations.
 * The `ulid` package's default asks the OS for one random byte per character (16 system calls, ~80 µs
 * per id here); this draws from a pooled buffer refilled 4 KiB at a time, and is monotonic within a
 * millisecond, so ids made by one process sort in the order they were made.
 */
const pool = new Uint32Array(1024);
let next = pool.length;

function pooledRandom(): number {
  if (next >= pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 0x1_0000_0000;
}

export const newId: () => string = monotonicFactory(pooledRandom);
