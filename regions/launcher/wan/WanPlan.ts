import { createHash } from 'node:crypto';

/** How one inter-site link behaves. Delay, jitter, loss and rate apply to each direction. */
export interface WanLinkOptions {
  /** Round-trip time added by the link (each direction holds packets rttMs / 2). */
  rttMs?: number;
  /** Standard deviation of the per-packet delay in each direction (clipped at ±2×; never reorders). */
  jitterMs?: number;
  /** Probability that one packet is dropped, per direction (0..1). */
  loss?: number;
  /** Bandwidth of each direction in kbit/s (0 or unset: unlimited). */
  rateKbps?: number;
}

export interface WanOptions {
  /** Per pair of sites, keyed `a-b` (either order), e.g. `{ 'seoul-frankfurt': { rttMs: 80 } }`. */
  links?: Record<string, WanLinkOptions>;
  /** Every pair not in `links` (and not in the defaults): 150 ms RTT. */
  defaultLink?: WanLinkOptions;
  /** Second octet of the mesh's 10.X.0.0/16 (default: derived from the port base). */
  subnet?: number;
}

/** A site is a region or the core: each gets its own network namespace. */
export interface WanSite {
  id: string;
  index: number;
}

export interface PlannedSite extends WanSite {
  netns: string;
  /** The address every process of the site listens on and advertises. */
  address: string;
  /** The site's link subnet (what the emulator matches packets by). */
  cidr: string;
  /** The router side of the link, in the wan namespace: the site's default gateway. */
  gateway: string;
  /** Interface name of the link's end in the wan namespace. */
  wanIf: string;
}

export interface PlannedLink {
  a: string;
  b: string;
  delayMs: number;
  jitterMs: number;
  loss: number;
  rateKbps: number;
}

/** 80 ms between the two catalogue regions, as the issue asks; 150 ms for every other pair. */
export const DEFAULT_LINKS: Readonly<Record<string, WanLinkOptions>> = {
  'seoul-frankfurt': { rttMs: 80 },
};
export const DEFAULT_RTT_MS = 150;

/** Interface names inside the namespaces (one namespace each, so they repeat across meshes). */
export const SITE_IF = 'wan0';
export const WAN_HOST_IF = 'host';
export const TUN_IF = 'tun0';
/** Policy-routing table in the wan namespace whose only route is the TUN of the emulator. */
export const EMULATOR_TABLE = 100;

/** Prefix of every namespace of one mesh: `mv.<mesh>.` ('.' cannot occur in a mesh name). */
export function netnsPrefix(meshName: string): string {
  return `mv.${meshName}.`;
}

/** The root namespace's end of the host link: unique per mesh name, ≤ 15 characters. */
export function hostInterface(meshName: string): string {
  return `mv${createHash('sha256').update(meshName).digest('hex').slice(0, 10)}`;
}

function pairKey(a: string, b: string): string {
  return [a, b].sort().join('-');
}

function checkLink(key: string, l: WanLinkOptions): void {
  const bad = (what: string) => {
    throw new RangeError(`wan link ${key}: ${what}`);
  };
  if (l.rttMs !== undefined && !(Number.isFinite(l.rttMs) && l.rttMs >= 0 && l.rttMs <= 10_000))
    bad(`rttMs must be 0..10000, got ${l.rttMs}`);
  if (l.jitterMs !== undefined && !(Number.isFinite(l.jitterMs) && l.jitterMs >= 0 && l.jitterMs <= 5000))
    bad(`jitterMs must be 0..5000, got ${l.jitterMs}`);
  if (l.loss !== undefined && !(Number.isFinite(l.loss) && l.loss >= 0 && l.loss <= 1))
    bad(`loss must be 0..1, got ${l.loss}`);
  if (l.rateKbps !== undefined && !(Number.isFinite(l.rateKbps) && l.rateKbps >= 0))
    bad(`rateKbps must be ≥ 0, got ${l.rateKbps}`);
}

export function toPlannedLink(a: string, b: string, l: WanLinkOptions): PlannedLink {
  checkLink(`${a}-${b}`, l);
  return {
    a,
    b,
    delayMs: (l.rttMs ?? DEFAULT_RTT_MS) / 2,
    jitterMs: l.jitterMs ?? 0,
    loss: l.loss ?? 0,
    rateKbps: l.rateKbps ?? 0,
  };
}

/**
 * The addresses and names of one mesh's WAN. Everything lives in 10.X.0.0/16 (X from the port base
 * unless given): site with index i is 10.X.(i+1).2 behind the wan namespace's 10.X.(i+1).1, and the
 * root namespace reaches them all through the host link 10.X.250.2 ⇄ 10.X.250.1, which bypasses the
 * emulator (the launcher's probes and tests see the sites without added delay).
 */
export class WanPlan {
  readonly meshName: string;
  readonly subnet: number;
  readonly sites: readonly PlannedSite[];
  readonly links: readonly PlannedLink[];
  readonly wanNetns: string;
  readonly hostIf: string;
  readonly hostAddress: string;
  readonly hostGateway: string;

  constructor(meshName: string, portBase: number, sites: readonly WanSite[], options: WanOptions = {}) {
    this.meshName = meshName;
    this.subnet = options.subnet ?? Math.floor(portBase / 100) % 256;
    if (!Number.isInteger(this.subnet) || this.subnet < 0 || this.subnet > 255)
      throw new RangeError(`wan subnet must be 0..255 (10.X.0.0/16), got ${options.subnet}`);
    const net = `10.${this.subnet}`;
    const prefix = netnsPrefix(meshName);
    this.wanNetns = `${prefix}wan`;
    this.hostIf = hostInterface(meshName);
    this.hostAddress = `${net}.250.2`;
    this.hostGateway = `${net}.250.1`;
    const ids = new Set<string>();
    this.sites = sites.map((s) => {
      if (ids.has(s.id)) throw new Error(`wan: site "${s.id}" twice`);
      if (s.id === 'wan') throw new Error('wan: a site cannot be named "wan"');
      ids.add(s.id);
      return {
        ...s,
        netns: `${prefix}${s.id}`,
        address: `${net}.${s.index + 1}.2`,
        gateway: `${net}.${s.index + 1}.1`,
        cidr: `${net}.${s.index + 1}.0/24`,
        wanIf: `r${s.index}`,
      };
    });
    for (const key of Object.keys(options.links ?? {})) {
      const [a, b, ...rest] = key.split('-');
      if (!a || !b || rest.length > 0 || !ids.has(a) || !ids.has(b) || a === b)
        throw new Error(
          `wan link "${key}": expected "<site>-<site>" of two different sites of the mesh (${[...ids].join(', ')})`,
        );
    }
    const given = new Map<string, WanLinkOptions>();
    for (const [key, l] of Object.entries(DEFAULT_LINKS))
      given.set(pairKey(...(key.split('-') as [string, string])), l);
    for (const [key, l] of Object.entries(options.links ?? {}))
      given.set(pairKey(...(key.split('-') as [string, string])), l);
    const links: PlannedLink[] = [];
    for (let i = 0; i < this.sites.length; i++)
      for (let j = i + 1; j < this.sites.length; j++) {
        const a = this.sites[i]!.id;
        const b = this.sites[j]!.id;
        links.push(toPlannedLink(a, b, { ...options.defaultLink, ...given.get(pairKey(a, b)) }));
      }
    this.links = links;
  }

  /** The mesh's whole range. */
  get cidr(): string {
    return `10.${this.subnet}.0.0/16`;
  }

  get hostCidr(): string {
    return `10.${this.subnet}.250.0/24`;
  }

  site(id: string): PlannedSite {
    const s = this.sites.find((x) => x.id === id);
    if (!s) throw new Error(`wan: no site "${id}" (has: ${this.sites.map((x) => x.id).join(', ')})`);
    return s;
  }

  link(a: string, b: string): PlannedLink {
    const l = this.links.find((x) => (x.a === a && x.b === b) || (x.a === b && x.b === a));
    if (!l) throw new Error(`wan: no link between "${a}" and "${b}"`);
    return l;
  }

  /** The emulator's -config. */
  emulatorConfig(): string {
    return JSON.stringify({
      sites: this.sites.map((s) => ({ name: s.id, cidr: s.cidr })),
      links: this.links,
    });
  }
}
