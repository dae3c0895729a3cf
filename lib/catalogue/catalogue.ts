import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Flow, type RegionSpec, RegionSpecSchema, TopologySchema } from './schema';

export type { Flow, RegionSpec, Topology } from './schema';

/** The region catalogue and the replication topology, validated together. */
export interface Catalogue {
  /** Every entry, regions and the core, ordered by index. */
  readonly all: readonly RegionSpec[];
  /** The regions (kind "region"), ordered by index. */
  readonly regions: readonly RegionSpec[];
  /** The core region. */
  readonly core: RegionSpec;
  readonly flows: readonly Flow[];
  get(id: string): RegionSpec;
}

/** regions/ at the repository root: the catalogue is data, read from there by every process. */
export function defaultRegionsDir(): string {
  return fileURLToPath(new URL('../../regions/', import.meta.url));
}

export class CatalogueError extends Error {
  override name = 'CatalogueError';
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CatalogueError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CatalogueError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function formatIssues(file: string, issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return `${file}: ${issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ')}`;
}

/**
 * Builds a catalogue from already parsed documents (one per region) and a topology. Checks what
 * a schema alone cannot: unique ids and indexes, exactly one core, flows between known regions.
 */
export function buildCatalogue(
  entries: readonly { source: string; data: unknown }[],
  topologyDoc: { source: string; data: unknown },
): Catalogue {
  const specs: RegionSpec[] = [];
  for (const { source, data } of entries) {
    const parsed = RegionSpecSchema.safeParse(data);
    if (!parsed.success) throw new CatalogueError(formatIssues(source, parsed.error.issues));
    const base = source
      .split('/')
      .pop()
      ?.replace(/\.json$/, '');
    if (base && base !== parsed.data.id && source.endsWith('.json'))
      throw new CatalogueError(`${source}: id "${parsed.data.id}" differs from the file name "${base}"`);
    specs.push(parsed.data);
  }
  const topo = TopologySchema.safeParse(topologyDoc.data);
  if (!topo.success) throw new CatalogueError(formatIssues(topologyDoc.source, topo.error.issues));

  const byId = new Map<string, RegionSpec>();
  const byIndex = new Map<number, string>();
  for (const spec of specs) {
    if (byId.has(spec.id)) throw new CatalogueError(`region "${spec.id}" is defined twice`);
    const other = byIndex.get(spec.index);
    if (other !== undefined)
      throw new CatalogueError(`regions "${other}" and "${spec.id}" share the port index ${spec.index}`);
    byId.set(spec.id, spec);
    byIndex.set(spec.index, spec.id);
    if (spec.kind === 'region' && !spec.redis)
      throw new CatalogueError(
        `region "${spec.id}" has no redis section (every region runs a Redis Cluster)`,
      );
  }
  const cores = specs.filter((s) => s.kind === 'core');
  if (cores.length !== 1)
    throw new CatalogueError(`the catalogue needs exactly one core region, found ${cores.length}`);
  const regions = specs.filter((s) => s.kind === 'region');
  if (regions.length === 0) throw new CatalogueError('the catalogue has no region');

  const seen = new Set<string>();
  for (const flow of topo.data.flows) {
    for (const end of [flow.source, flow.target])
      if (!byId.has(end))
        throw new CatalogueError(
          `${topologyDoc.source}: flow ${flow.source}->${flow.target}: unknown region "${end}"`,
        );
    if (flow.source === flow.target)
      throw new CatalogueError(`${topologyDoc.source}: flow ${flow.source}->${flow.target} goes nowhere`);
    const key = `${flow.source}->${flow.target}`;
    if (seen.has(key)) throw new CatalogueError(`${topologyDoc.source}: flow ${key} is listed twice`);
    seen.add(key);
  }

  const all = [...specs].sort((a, b) => a.index - b.index);
  return {
    all,
    regions: all.filter((s) => s.kind === 'region'),
    core: cores[0]!,
    flows: topo.data.flows,
    get(id: string): RegionSpec {
      const spec = byId.get(id);
      if (!spec) throw new CatalogueError(`unknown region "${id}" (known: ${[...byId.keys()].join(', ')})`);
      return spec;
    },
  };
}

/** Reads regions/catalogue/*.json and regions/topology.json (or the same layout under `dir`). */
export function loadCatalogue(dir = defaultRegionsDir()): Catalogue {
  const catDir = join(dir, 'catalogue');
  let files: string[];
  try {
    files = readdirSync(catDir).filter((f) => f.endsWith('.json'));
  } catch (error) {
    throw new CatalogueError(`cannot list ${catDir}: ${(error as Error).message}`);
  }
  const entries = files.sort().map((f) => ({ source: join(catDir, f), data: readJson(join(catDir, f)) }));
  const topoFile = join(dir, 'topology.json');
  return buildCatalogue(entries, { source: topoFile, data: readJson(topoFile) });
}
