import { describe, expect, it } from 'vitest';
import { DEFAULT_PLACEMENT_WEIGHTS, pickWorker, placementScore, type WorkerLoad } from './placement';

const load = (index: number, rooms = 0, streams = 0, cpuPercent = 0): WorkerLoad => ({
  index,
  rooms,
  streams,
  cpuPercent,
});

describe('pickWorker', () => {
  it('returns undefined without workers', () => {
    expect(pickWorker([])).toBeUndefined();
  });

  it('spreads empty rooms round the workers in slot order', () => {
    const loads = [load(0), load(1), load(2)];
    const chosen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const pick = pickWorker(loads)!;
      chosen.push(pick.index);
      loads[pick.index]!.rooms++;
    }
    expect(chosen).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('prefers the worker with fewer streams over the one with fewer rooms', () => {
    // Worker 0: one huge room (200 streams). Worker 1: three small rooms.
    const pick = pickWorker([load(0, 1, 200), load(1, 3, 12)]);
    expect(pick?.index).toBe(1);
  });

  it('ignores CPU jitter below the floor', () => {
    const pick = pickWorker([load(0, 0, 0, 15), load(1, 0, 0, 2)]);
    expect(pick?.index).toBe(0);
  });

  it('avoids a worker whose CPU is high even when it has fewer rooms', () => {
    const pick = pickWorker([load(0, 1, 5, 90), load(1, 2, 8, 10)]);
    expect(pick?.index).toBe(1);
  });

  it('breaks score ties with fewer rooms, then lower index', () => {
    // Same score (20): worker 1 has 20 streams and no room, worker 0 has two empty rooms.
    expect(pickWorker([load(0, 2, 0), load(1, 0, 20)])?.index).toBe(1);
    expect(pickWorker([load(3, 1, 0), load(2, 1, 0)])?.index).toBe(2);
  });
});

describe('placementScore', () => {
  it('weights rooms, streams and CPU above the floor', () => {
    const w = DEFAULT_PLACEMENT_WEIGHTS;
    expect(placementScore(load(0, 2, 7, w.cpuFloorPercent + 10))).toBe(
      7 + 2 * w.roomWeight + 10 * w.cpuWeight,
    );
  });
});
