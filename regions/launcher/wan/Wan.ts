import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TypedEmitter } from '../../../lib/events/TypedEmitter';
import type { ManagedProcess } from '../ManagedProcess';
import { isPidAlive, sleep } from '../system';
import { type LinkDirectionStats, LinkEmulator } from './LinkEmulator';
import { ensureLinkEmulator } from './linkEmulatorBin';
import { assertWanSupport, ip, ipSync, listNetns, netnsPids } from './netns';
import {
  EMULATOR_TABLE,
  hostInterface,
  netnsPrefix,
  type PlannedSite,
  SITE_IF,
  TUN_IF,
  toPlannedLink,
  WAN_HOST_IF,
  type WanLinkOptions,
  type WanPlan,
} from './WanPlan';

export interface WanStartOptions {
  plan: WanPlan;
  /** The mesh directory: the emulator's control socket and working directory. */
  dir: string;
  logDir: string;
  onProgress?: (line: string) => void;
}

export type WanEvents = {
  /** The emulator exited on its own: every inter-site path is gone. */
  died: [proc: ManagedProcess, code: number | null, signal: NodeJS.Signals | null];
};

/**
 * `<mesh dir>/wan.json`, written once the WAN is up: where each site is, for processes other than
 * the launcher (a test that runs a probe in a site, a tool that partitions through the control socket).
 */
export interface WanInfo {
  sites: Record<string, { netns: string; address: string }>;
  /** As configured at start (setLink/partition change the emulator, not this file). */
  links: { a: string; b: string; rttMs: number; jitterMs: number; loss: number; rateKbps: number }[];
  /** The emulator's control socket (JSON lines: see linkemu/main.go). */
  control: string;
  hostInterface: string;
}

/** Reads a running mesh's wan.json; null when the mesh runs without the WAN. */
export function readWanInfo(meshDir: string): WanInfo | null {
  try {
    return JSON.parse(readFileSync(join(meshDir, 'wan.json'), 'utf8')) as WanInfo;
  } catch {
    return null;
  }
}

/** Kills whatever still runs in the namespaces and deletes them (and the host link). Sync: usable on exit. */
function removeNamespacesSync(names: readonly string[], hostIf: string): void {
  for (const ns of names) {
    for (const pid of netnsPids(ns))
      try {
        if (pid !== process.pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    ipSync('netns', 'del', ns);
  }
  // Deleting the wan namespace destroys the veth pair; this covers a half-made start.
  if (ipSync('link', 'show', hostIf)) ipSync('link', 'del', hostIf);
}

/**
 * A mesh's emulated WAN: one network namespace per site (region or core) and a "wan" namespace
 * routing between them. Every packet from one site to another goes through the user-space link
 * emulator (delay, jitter, loss, partition); the launcher's own namespace reaches every site
 * directly through the host link. See README.md in this folder for the picture.
 */
export class Wan extends TypedEmitter<WanEvents> {
  readonly plan: WanPlan;
  readonly #options: WanStartOptions;
  #emulator: LinkEmulator | null = null;
  #created: string[] = [];
  #closing: Promise<void> | null = null;

  constructor(options: WanStartOptions) {
    super();
    this.plan = options.plan;
    this.#options = options;
  }

  /**
   * Removes what a previous run of the mesh `meshName` left (namespaces, their processes, the host
   * link): after a crash of the launcher nothing else would. Returns how many namespaces it removed.
   */
  static removeStale(meshName: string): number {
    if (process.getuid?.() !== 0) return 0;
    const stale = listNetns().filter((ns) => ns.startsWith(netnsPrefix(meshName)));
    removeNamespacesSync(stale, hostInterface(meshName));
    return stale.length;
  }

  get emulator(): LinkEmulator | null {
    return this.#emulator;
  }

  site(id: string): PlannedSite {
    return this.plan.site(id);
  }

  /** The namespace that a site's processes run in. */
  netns(site: string): string {
    return this.plan.site(site).netns;
  }

  /** The address that a site's processes listen on and advertise. */
  address(site: string): string {
    return this.plan.site(site).address;
  }

  #progress(line: string): void {
    this.#options.onProgress?.(`wan: ${line}`);
  }

  /** Builds the namespaces and links, starts the emulator and steers inter-site traffic through it. */
  async start(signal?: AbortSignal): Promise<void> {
    assertWanSupport();
    const p = this.plan;
    const binary = ensureLinkEmulator((l) => this.#options.onProgress?.(l));
    await this.#checkRange();
    const wan = p.wanNetns;
    const add = async (ns: string) => {
      await ip('netns', 'add', ns);
      this.#created.push(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    };
    await add(wan);
    // Forwarding on; reverse-path filtering off (packets come back out of the TUN with site sources).
    await ip(
      'netns',
      'exec',
      wan,
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    );
    for (const s of p.sites) {
      signal?.throwIfAborted();
      await add(s.netns);
      await ip('-n', wan, 'link', 'add', s.wanIf, 'type', 'veth', 'peer', 'name', SITE_IF, 'netns', s.netns);
      await ip('-n', wan, 'addr', 'add', `${s.gateway}/24`, 'dev', s.wanIf);
      await ip('-n', wan, 'link', 'set', s.wanIf, 'up');
      await ip('-n', s.netns, 'addr', 'add', `${s.address}/24`, 'dev', SITE_IF);
      await ip('-n', s.netns, 'link', 'set', SITE_IF, 'up');
      await ip('-n', s.netns, 'route', 'add', 'default', 'via', s.gateway);
    }
    // The host link: the launcher's namespace reaches every site without emulation.
    await ip(
      '-n',
      wan,
      'link',
      'add',
      WAN_HOST_IF,
      'type',
      'veth',
      'peer',
      'name',
      p.hostIf,
      'netns',
      String(process.pid),
    );
    await ip('-n', wan, 'addr', 'add', `${p.hostGateway}/24`, 'dev', WAN_HOST_IF);
    await ip('-n', wan, 'link', 'set', WAN_HOST_IF, 'up');
    await ip('addr', 'add', `${p.hostAddress}/24`, 'dev', p.hostIf);
    await ip('link', 'set', p.hostIf, 'up');
    await ip('route', 'add', p.cidr, 'via', p.hostGateway, 'dev', p.hostIf);

    const emulator = new LinkEmulator({
      binary,
      netns: wan,
      config: p.emulatorConfig(),
      controlSocket: join(this.#options.dir, 'wan.sock'),
      logFile: join(this.#options.logDir, 'wan-linkemu.log'),
      cwd: this.#options.dir,
    });
    emulator.on('died', (proc, code, sig) => this.safeEmit('died', proc, code, sig));
    this.#emulator = emulator;
    await emulator.start(signal);
    // Steering: whatever enters from a site's link goes to the TUN (table EMULATOR_TABLE), except
    // replies to the host; what the emulator writes back comes in on the TUN and takes the main table.
    await ip('-n', wan, 'link', 'set', TUN_IF, 'up');
    await ip('netns', 'exec', wan, 'sysctl', '-q', '-w', `net.ipv4.conf.${TUN_IF}.rp_filter=0`);
    await ip('-n', wan, 'route', 'add', 'default', 'dev', TUN_IF, 'table', String(EMULATOR_TABLE));
    for (const s of p.sites) {
      await ip('-n', wan, 'rule', 'add', 'iif', s.wanIf, 'to', p.hostCidr, 'lookup', 'main', 'pref', '100');
      await ip('-n', wan, 'rule', 'add', 'iif', s.wanIf, 'lookup', String(EMULATOR_TABLE), 'pref', '200');
    }
    const info: WanInfo = {
      sites: Object.fromEntries(p.sites.map((s) => [s.id, { netns: s.netns, address: s.address }])),
      links: p.links.map((l) => ({
        a: l.a,
        b: l.b,
        rttMs: l.delayMs * 2,
        jitterMs: l.jitterMs,
        loss: l.loss,
        rateKbps: l.rateKbps,
      })),
      control: emulator.controlSocket,
      hostInterface: p.hostIf,
    };
    writeFileSync(join(this.#options.dir, 'wan.json'), `${JSON.stringify(info, null, 2)}\n`);
    this.#progress(
      `${p.sites.map((s) => `${s.id} ${s.address}`).join(', ')} (netns ${netnsPrefix(p.meshName)}*); ` +
        `links ${p.links.map((l) => `${l.a}-${l.b} ${l.delayMs * 2} ms`).join(', ')}`,
    );
  }

  /** Another mesh (or anything else) must not route our 10.X.0.0/16 already. */
  async #checkRange(): Promise<void> {
    const p = this.plan;
    const prefix = `10.${p.subnet}.`;
    const routes = JSON.parse((await ip('-j', 'route', 'show')) || '[]') as { dst?: string; dev?: string }[];
    const clash = routes.find((r) => r.dst?.startsWith(prefix) && r.dev !== p.hostIf);
    if (clash)
      throw new Error(
        `wan: the address range ${p.cidr} is already routed here (${clash.dst} dev ${clash.dev}); ` +
          'another mesh with a nearby port base may be running: pick another port base or set wan.subnet',
      );
  }

  /** Cuts every packet between two sites, both ways, including those already in flight. */
  async partition(a: string, b: string): Promise<void> {
    this.plan.link(a, b);
    await this.#require().set(a, b, { down: true });
  }

  /** Restores the link between two sites (its delay, jitter and loss as before). */
  async heal(a: string, b: string): Promise<void> {
    this.plan.link(a, b);
    await this.#require().set(a, b, { down: false });
  }

  /** Cuts (or restores) every link of one site. */
  async isolate(site: string, down = true): Promise<void> {
    this.plan.site(site);
    for (const l of this.plan.links)
      if (l.a === site || l.b === site) await this.#require().set(l.a, l.b, { down });
  }

  /** Changes a link's delay, jitter, loss or rate (both directions); unset fields keep their value. */
  async setLink(a: string, b: string, options: WanLinkOptions): Promise<void> {
    const planned = toPlannedLink(a, b, options);
    this.plan.link(a, b);
    const fields: Record<string, number> = {};
    if (options.rttMs !== undefined) fields.delayMs = planned.delayMs;
    if (options.jitterMs !== undefined) fields.jitterMs = planned.jitterMs;
    if (options.loss !== undefined) fields.loss = planned.loss;
    if (options.rateKbps !== undefined) fields.rateKbps = planned.rateKbps;
    await this.#require().set(a, b, fields);
  }

  /** Packets and bytes per direction of every link since start (what crossed between sites). */
  stats(): Promise<LinkDirectionStats[]> {
    return this.#require().stats();
  }

  /** One direction's counters. */
  async linkStats(from: string, to: string): Promise<LinkDirectionStats> {
    const s = (await this.stats()).find((x) => x.from === from && x.to === to);
    if (!s) throw new Error(`wan: no link from "${from}" to "${to}"`);
    return s;
  }

  #require(): LinkEmulator {
    if (!this.#emulator?.process.running) throw new Error('wan: the link emulator is not running');
    return this.#emulator;
  }

  /** Stops the emulator and removes the namespaces and links. Processes in the sites must be stopped first. */
  close(): Promise<void> {
    if (!this.#closing) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#emulator?.close();
    rmSync(join(this.#options.dir, 'wan.json'), { force: true });
    const names = [...this.#created];
    // Anything still inside (a child of a child) would keep its namespace alive.
    const pids = names.flatMap((ns) => netnsPids(ns));
    removeNamespacesSync(names, this.plan.hostIf);
    const deadline = Date.now() + 3000;
    while (pids.some(isPidAlive) && Date.now() < deadline) await sleep(50);
    this.#created = [];
    this.#progress('namespaces and links removed');
  }

  /** The process 'exit' handler's last resort. */
  killSync(): void {
    this.#emulator?.killSync();
    removeNamespacesSync(this.#created, this.plan.hostIf);
    this.#created = [];
  }
}
