/** One way of forwarding 1 publisher to N plain-RTP consumers on ONE mediasoup worker. */
export interface ForwardingTarget {
  readonly name: string;
  readonly workerPid: number;
  /**
   * Creates a router/room with a plain-RTP VP8 producer (SSRC `ssrc`, PT 96) and `consumers` plain
   * consumers sending to `sinks` (round robin); returns where to send the RTP.
   */
  prepare(options: { consumers: number; sinks: { ip: string; port: number }[]; ssrc: number }): Promise<{
    ip: string;
    port: number;
  }>;
  /** Cumulative CPU time (user + system) of the worker process, ms. */
  cpuMs(): Promise<number>;
  /** Closes the router/room of the last prepare(). */
  teardown(): void;
  /** Closes the worker. */
  close(): void;
}
