import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cacheRoot } from '../../../lib/media/workerBin';

export const S3_KEYS = { accessKeyId: 'meetviewtest', secretAccessKey: 'meetviewtestsecret0123456789' };

/** The versitygw binary that scripts/s3/install.sh installs. */
export function versitygwBin(): string {
  const bin = process.env.VERSITYGW_BIN ?? join(cacheRoot(), 'bin', 'versitygw');
  if (!existsSync(bin))
    throw new Error(
      `versitygw is not installed (${bin}): run scripts/s3/install.sh (needs Go and the Go module proxy)`,
    );
  return bin;
}

/** Versity S3 Gateway on loopback over a posix directory; stop() ends it. */
export class Versity {
  private constructor(
    readonly endpoint: string,
    readonly child: ChildProcess,
  ) {}

  static async start(dir: string, port: number): Promise<Versity> {
    await mkdir(dir, { recursive: true });
    const child = spawn(versitygwBin(), ['--port', `127.0.0.1:${port}`, 'posix', dir], {
      env: { ...process.env, ROOT_ACCESS_KEY: S3_KEYS.accessKeyId, ROOT_SECRET_KEY: S3_KEYS.secretAccessKey },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const deadline = Date.now() + 15_000;
    while (!(await portOpen(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`versitygw did not start on ${port}: ${stderr.slice(-500)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return new Versity(`http://127.0.0.1:${port}`, child);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** MEETVIEW_REGION_EDGES for a mesh whose regions each run `perRegion` edges. */
export { regionEdgesEnv } from '../../../regions/launcher/edges';

export interface UploadAnswer {
  status: number;
  body: {
    file?: { id: string; sha256: string; size: number; type: string; name: string };
    error?: { code: string; message: string };
  };
  /** Bytes the client had written when the answer came. */
  sent: number;
}

/**
 * POSTs a stream to /api/files with node:http (so the test sees the answer even when the edge refuses
 * mid-body). `length` sets Content-Length; without it the body is chunked.
 */
export function upload(
  edgeUrl: string,
  token: string | undefined,
  name: string,
  body: Readable | Buffer,
  opts: { length?: number; type?: string; rawName?: boolean } = {},
): Promise<UploadAnswer> {
  const url = new URL('/api/files', edgeUrl);
  const headers: Record<string, string> = {
    'x-file-name': opts.rawName ? name : encodeURIComponent(name),
    'content-type': opts.type ?? 'application/octet-stream',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const length = Buffer.isBuffer(body) ? body.length : opts.length;
  if (length !== undefined) headers['content-length'] = String(length);
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = http.request(url, { method: 'POST', headers });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: UploadAnswer['body'] = {};
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { error: { code: 'NOT_JSON', message: text } };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, sent });
      });
      if (!Buffer.isBuffer(body)) body.destroy();
    });
    // A refused upload's connection closes under the writer: the answer is what matters.
    req.on('error', (err) => setTimeout(() => reject(err), 500));
    if (Buffer.isBuffer(body)) {
      sent = body.length;
      req.end(body);
      return;
    }
    // Like curl, and unlike a bare pipe(), the writer yields between chunks so an early answer (a
    // refusal mid-body) is read and stops the sending before the edge closes the connection.
    let answered = false;
    req.once('response', () => {
      answered = true;
    });
    void (async () => {
      try {
        for await (const c of body) {
          if (answered || req.destroyed) return;
          sent += (c as Buffer).length;
          if (!req.write(c)) await new Promise((r) => req.once('drain', r));
          await new Promise((r) => setImmediate(r));
        }
        req.end();
      } catch (err) {
        // The body is destroyed once the answer came; only an earlier failure ends the request.
        if (!answered) req.destroy(err as Error);
      }
    })();
  });
}

/**
 * `n` random bytes that no sniffer reads as a refused type. Plain random bytes begin with a refused
 * signature ("MZ", or zlib's 78 01 that file-type reads as a disk image) about once in 20,000 uploads,
 * and the edge then rightly answers 415; a zero first byte begins none of them.
 */
export function opaqueBytes(n: number): Buffer<ArrayBuffer> {
  const data = randomBytes(n);
  data[0] = 0;
  return data;
}

/**
 * A stream of `total` pseudo-random bytes in 1 MiB chunks, hashed as it goes; `slice` recomputes any
 * range of it (so a Range answer can be checked without keeping the file).
 */
export function generated(total: number): {
  stream: Readable;
  sha256: () => string;
  slice: (start: number, end: number) => Buffer;
} {
  const hash = createHash('sha256');
  const block = randomBytes(1024 * 1024);
  const slice = (start: number, end: number) => {
    const out = Buffer.alloc(end - start + 1);
    for (let pos = start; pos <= end; ) {
      const chunkNo = Math.floor(pos / block.length);
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(chunkNo, 0);
      const from = pos - chunkNo * block.length;
      const n = Math.min(block.length - from, end - pos + 1);
      chunk.copy(out, pos - start, from, from + n);
      pos += n;
    }
    return out;
  };
  let produced = 0;
  let n = 0;
  const stream = new Readable({
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(block.length, total - produced);
      // Vary each chunk (a counter in the first bytes) so no two MiB are identical.
      const chunk = Buffer.from(block.subarray(0, size));
      chunk.writeUInt32BE(n++, 0);
      produced += size;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex'), slice };
}

/** Downloads into a hash, never holding the body. */
export async function downloadHash(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; sha256: string; bytes: number; headers: Headers; firstByteMs: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  const hash = createHash('sha256');
  let bytes = 0;
  let firstByteMs = -1;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      hash.update(chunk);
      bytes += chunk.length;
    }
  }
  return { status: res.status, sha256: hash.digest('hex'), bytes, headers: res.headers, firstByteMs };
}

/** Resident memory (bytes) of the edge's Node process: the `node` descendant of a `tsx edge/main.ts` launch. */
export function edgeRss(launcherPid: number): number {
  const pids = [launcherPid, ...descendants(launcherPid)];
  let best = 0;
  for (const pid of pids) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm !== 'node' && comm !== 'tsx') continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) best = Math.max(best, Number(m[1]) * 1024);
    } catch {
      // gone
    }
  }
  return best;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.split(/\s+/).filter(Boolean).map(Number)) out.push(c, ...descendants(c));
  }
  return out;
}

/** Files under a directory, recursively (what a filesystem store holds). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}
