import { readdirSync, readFileSync } from 'node:fs';

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const CLK_TCK = 100;

function children(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid);
      if (list) list.push(Number(name));
      else map.set(ppid, [Number(name)]);
    } catch {
      // The process ended while we looked.
    }
  }
  return map;
}

/** CPU seconds (user + system) used so far by each pid and all its descendants (tsx runs node as a child). */
export function cpuSeconds(pids: number[]): number {
  const tree = children();
  let ticks = 0;
  const seen = new Set<number>();
  const stack = [...pids];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // Gone.
    }
    stack.push(...(tree.get(pid) ?? []));
  }
  return ticks / CLK_TCK;
}

/** Measures CPU of groups of processes between start() and stop(), as % of one core. */
export class CpuMeter {
  readonly #groups: Record<string, number[]>;
  #start: Record<string, number> = {};
  #t0 = 0;

  constructor(groups: Record<string, number[]>) {
    this.#groups = groups;
  }

  start(): void {
    this.#t0 = performance.now();
    for (const [k, pids] of Object.entries(this.#groups)) this.#start[k] = cpuSeconds(pids);
    this.#start.bench = process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
  }

  /** % of one core per group over the interval (plus `bench`, this process). */
  stop(): Record<string, number> {
    const wall = (performance.now() - this.#t0) / 1000;
    const out: Record<string, number> = {};
    for (const [k, pids] of Object.entries(this.#groups))
      out[k] = (100 * (cpuSeconds(pids) - this.#start[k]!)) / wall;
    const u = process.cpuUsage();
    out.bench = (100 * (u.user / 1e6 + u.system / 1e6 - this.#start.bench!)) / wall;
    return out;
  }
}
