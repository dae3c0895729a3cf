/** Messages between the fan-out benchmark (main thread) and its load threads (LoadWorker.ts). */

export type SystemName = 'meetview' | 'socketio';

export interface LoadWorkerData {
  system: SystemName;
  /** The instances; client g connects to urls[g mod urls.length]. */
  urls: string[];
  /** The global indices of the clients this thread owns (client g is in room floor(g / S)). */
  indices: number[];
  W: number;
  S: number;
  /** Prefix of this run's room names. */
  tag: string;
}

export type ToWorker =
  | { type: 'connect' }
  | { type: 'warm' }
  | { type: 'start'; rate: number; t0: number; endAt: number }
  | { type: 'finish' };

export interface LoadCounters {
  sent: number;
  acked: number;
  failed: number;
  delivered: number;
  /** Wall-clock ms of the last delivery (0 before any). */
  lastDelivery: number;
}

export type FromWorker =
  | { type: 'connected' }
  | { type: 'failed'; message: string }
  | ({ type: 'status'; warm: number; sending: boolean } & LoadCounters)
  | ({
      type: 'result';
      latencies: Float64Array;
      acks: Float64Array;
      errors: [string, number][];
    } & LoadCounters);
