/** The load of one worker as the pool sees it when it places a new room. */
export type WorkerLoad = {
  /** Slot index of the worker in the pool (stable across replacement). */
  index: number;
  rooms: number;
  /** Producers + consumers: every stream the worker forwards or receives. */
  streams: number;
  /** CPU of the worker process over the last sampling period, in percent of one core. */
  cpuPercent: number;
};

export type PlacementWeights = {
  /** A room's expected weight in streams before it has any: spreads empty rooms over workers. */
  roomWeight: number;
  /** Score per CPU percent above cpuFloorPercent. */
  cpuWeight: number;
  /** CPU below this is treated as idle noise, so that sampling jitter does not reorder idle workers. */
  cpuFloorPercent: number;
};

export const DEFAULT_PLACEMENT_WEIGHTS: PlacementWeights = {
  roomWeight: 10,
  cpuWeight: 2,
  cpuFloorPercent: 20,
};

/** The placement score of a worker: lower is better. */
export function placementScore(
  load: WorkerLoad,
  weights: PlacementWeights = DEFAULT_PLACEMENT_WEIGHTS,
): number {
  const cpuPenalty = Math.max(0, load.cpuPercent - weights.cpuFloorPercent) * weights.cpuWeight;
  return load.streams + load.rooms * weights.roomWeight + cpuPenalty;
}

/**
 * Picks the worker for a new room: the lowest score; ties go to fewer rooms, then the lower slot index
 * (so placement is deterministic). Returns undefined when there is no worker to choose from.
 */
export function pickWorker(
  loads: readonly WorkerLoad[],
  weights: PlacementWeights = DEFAULT_PLACEMENT_WEIGHTS,
): WorkerLoad | undefined {
  let best: WorkerLoad | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const load of loads) {
    const score = placementScore(load, weights);
    if (
      best === undefined ||
      score < bestScore ||
      (score === bestScore &&
        (load.rooms < best.rooms || (load.rooms === best.rooms && load.index < best.index)))
    ) {
      best = load;
      bestScore = score;
    }
  }
  return best;
}
