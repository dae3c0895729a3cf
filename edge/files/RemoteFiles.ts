import { Readable } from 'node:stream';
import type { InternalTokens } from '../../lib/auth/internal';
import { type FileMeta, FileMetaSchema } from './FileMeta';
import type { ByteRange } from './FileStore';

/** Header with a file's metadata (base64url JSON) on an internal file response. */
export const META_HEADER = 'x-meetview-file-meta';
const FETCH_TIMEOUT_MS = 10_000;

/**
 * Calls to the edges of other regions for files uploaded there: metadata, bytes and deletions over
 * their HTTP servers (`/internal/files/…`), authenticated with this edge's internal token.
 */
export class RemoteFiles {
  readonly #peers: ReadonlyMap<string, readonly string[]>;
  readonly #tokens: InternalTokens;
  readonly #node: string;

  /** `peers`: region → edge URLs of every other region. */
  constructor(peers: ReadonlyMap<string, readonly string[]>, tokens: InternalTokens, node: string) {
    this.#peers = peers;
    this.#tokens = tokens;
    this.#node = node;
  }

  get regions(): string[] {
    return [...this.#peers.keys()];
  }

  /** Asks other regions (`region` first when known) for a file's metadata. */
  async meta(room: string, id: string, region?: string): Promise<FileMeta | undefined> {
    for (const url of this.#urls(region)) {
      try {
        const res = await this.#call(url, `/internal/files/${encodeURIComponent(room)}/${id}/meta`, 'GET');
        if (res.ok) return FileMetaSchema.parse(await res.json());
        await res.body?.cancel();
      } catch (err) {
        console.error(`[files] metadata from ${url} failed: ${(err as Error).message}`);
      }
    }
    return undefined;
  }

  /** Streams a file's bytes (or a slice) from the edges of its region. */
  async bytes(meta: FileMeta, range?: ByteRange): Promise<Readable> {
    let last: unknown;
    for (const url of this.#urls(meta.region)) {
      try {
        const res = await this.#call(
          url,
          `/internal/files/${encodeURIComponent(meta.room)}/${meta.id}`,
          'GET',
          range ? { range: `bytes=${range.start}-${range.end}` } : {},
        );
        if (res.ok && res.body) return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
        last = new Error(`${url} answered ${res.status}`);
        await res.body?.cancel();
      } catch (err) {
        last = err;
      }
    }
    throw new Error(
      `no edge of region ${meta.region} served file ${meta.id}: ${(last as Error)?.message ?? 'no edges known'}`,
    );
  }

  /** Tells every other region that a file was deleted. Best effort per region; returns the failures. */
  async deleted(room: string, id: string): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(
      [...this.#peers].map(async ([region, urls]) => {
        for (const url of urls) {
          try {
            const res = await this.#call(url, `/internal/files/${encodeURIComponent(room)}/${id}`, 'DELETE');
            await res.body?.cancel();
            if (res.ok || res.status === 404) return;
          } catch {
            // try the region's next edge
          }
        }
        failed.push(region);
      }),
    );
    return failed;
  }

  #urls(first?: string): string[] {
    const regions = [...this.#peers.keys()].sort((a, b) => (a === first ? -1 : b === first ? 1 : 0));
    return regions.flatMap((r) => [...(this.#peers.get(r) ?? [])]);
  }

  async #call(
    url: string,
    path: string,
    method: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const token = await this.#tokens.current(this.#node);
    // The timeout covers the answer's headers only: a body of gigabytes takes as long as it takes.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('no answer in time')), FETCH_TIMEOUT_MS);
    try {
      return await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...headers },
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Parses `seoul=http://a|http://b,frankfurt=http://c` (MEETVIEW_REGION_EDGES). */
export function parseRegionEdges(spec: string | undefined, ownRegion: string): Map<string, string[]> {
  const peers = new Map<string, string[]>();
  if (!spec) return peers;
  for (const entry of spec.split(',')) {
    const [region, urls] = entry.split('=');
    if (!region || !urls) throw new Error(`MEETVIEW_REGION_EDGES: bad entry "${entry}" (region=url|url)`);
    if (region.trim() === ownRegion) continue;
    peers.set(
      region.trim(),
      urls.split('|').map((u) => new URL(u.trim()).origin),
    );
  }
  return peers;
}
