/**
 * The port plan of one mesh. Every region (and the core) owns a block of PORTS_PER_REGION ports at
 * portBase + index * PORTS_PER_REGION; inside a block each service has a fixed offset, so a port
 * says what it is, and two meshes with bases at least MESH_SPAN apart never collide.
 *
 *   +0..+9   redis-server client ports     +10..+19  redis cluster bus ports
 *   +20..+22 kafka broker (PLAINTEXT)      +30..+32  kafka KRaft controller
 *   +40..+49 core services (admin gRPC…)   +50..+59  edge HTTP/WebSocket   +60..+69 edge cascade gRPC
 *   +70..+89 edge WebRTC (UDP+TCP, one per worker)
 */
export const PORTS_PER_REGION = 100;
export const MAX_REGION_INDEX = 9;
/** Ports one mesh may use: keep two meshes' bases at least this far apart. */
export const MESH_SPAN = PORTS_PER_REGION * (MAX_REGION_INDEX + 1);
/** Linux hands out ephemeral client ports from 32768: a mesh stays below so no client socket steals a port. */
export const EPHEMERAL_START = 32768;
export const DEFAULT_PORT_BASE = 21000;

const OFFSETS = {
  redis: { at: 0, max: 10 },
  redisBus: { at: 10, max: 10 },
  kafka: { at: 20, max: 3 },
  kafkaController: { at: 30, max: 3 },
  core: { at: 40, max: 10 },
  edgeHttp: { at: 50, max: 10 },
  edgeCascade: { at: 60, max: 10 },
  // Each edge's WebRtcServer ports (one per worker): edge i takes +70+2i and +71+2i.
  edgeRtc: { at: 70, max: 20 },
} as const;

export type PortKind = keyof typeof OFFSETS;

export class PortAllocator {
  readonly portBase: number;

  constructor(portBase: number = DEFAULT_PORT_BASE) {
    if (!Number.isInteger(portBase) || portBase < 1024)
      throw new RangeError(`port base must be an integer ≥ 1024, got ${portBase}`);
    if (portBase + MESH_SPAN > EPHEMERAL_START)
      throw new RangeError(
        `port base ${portBase} too high: a mesh spans ${MESH_SPAN} ports and must stay below ${EPHEMERAL_START} ` +
          `(the ephemeral port range), so use a base ≤ ${EPHEMERAL_START - MESH_SPAN}`,
      );
    this.portBase = portBase;
  }

  /** First port of a region's block. */
  block(regionIndex: number): number {
    if (!Number.isInteger(regionIndex) || regionIndex < 0 || regionIndex > MAX_REGION_INDEX)
      throw new RangeError(`region index must be 0..${MAX_REGION_INDEX}, got ${regionIndex}`);
    return this.portBase + regionIndex * PORTS_PER_REGION;
  }

  /** The `i`-th port of a kind in a region's block. */
  port(regionIndex: number, kind: PortKind, i = 0): number {
    const { at, max } = OFFSETS[kind];
    if (!Number.isInteger(i) || i < 0 || i >= max)
      throw new RangeError(`${kind} port number must be 0..${max - 1}, got ${i}`);
    return this.block(regionIndex) + at + i;
  }

  /** `count` consecutive ports of a kind. */
  ports(regionIndex: number, kind: PortKind, count: number): number[] {
    return Array.from({ length: count }, (_, i) => this.port(regionIndex, kind, i));
  }
}
