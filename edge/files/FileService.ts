import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newId } from '../../lib/ids';
import type { FileCatalog } from './FileCatalog';
import { FileError } from './FileError';
import { type FileMeta, isFileId } from './FileMeta';
import type { FileOfferLog } from './FileOfferLog';
import type { ByteRange, FileStore } from './FileStore';
import { cleanFileName, FileNameError } from './names';
import type { RemoteFiles } from './RemoteFiles';
import { SNIFF_BYTES, SniffError, sniffType } from './sniff';

export interface Uploader {
  identity: string;
  name: string;
}

/** Posts the offer into the room's chat (ChatService.system in the edge). */
/** One upload as the route hands it over: who, where, the claimed name and type, and the stream. */
export interface UploadRequest {
  room: string;
  from: Uploader;
  name: string;
  declaredType: string | undefined;
  contentLength: number | undefined;
  body: Readable;
}

export type OfferPoster = (room: string, about: Uploader, text: string, meta: FileMeta) => Promise<unknown>;

export interface FileServiceOptions {
  region: string;
  node: string;
  store: FileStore;
  catalog: FileCatalog;
  offers: FileOfferLog;
  remote: RemoteFiles;
  postOffer: OfferPoster;
  /** Largest file accepted (bytes). */
  maxBytes: number;
  /** Where unfinished resumable uploads wait (this edge's local disk). */
  uploadsDir: string;
}

interface UploadSession {
  identity: string;
  fromName: string;
  name: string;
  declaredType: string | undefined;
  length: number;
  /** The edge whose disk holds the bytes. */
  node: string;
}

export interface OpenedFile {
  meta: FileMeta;
  stream: Readable;
  /** 'local', or the region the bytes are streamed from. */
  servedFrom: string;
}

/**
 * Uploads and downloads. An upload streams through a guard (size limit, SHA-256, content sniffing of
 * the first bytes before anything is stored) into the store's staging area and is committed under its
 * hash; its metadata goes to Redis, its offer to Kafka and into the room's chat. A download is served
 * from this region's store, or streamed from the file's region and kept here on the way.
 */
export class FileService {
  readonly #o: FileServiceOptions;

  constructor(o: FileServiceOptions) {
    this.#o = o;
  }

  get maxBytes(): number {
    return this.#o.maxBytes;
  }

  get store(): FileStore {
    return this.#o.store;
  }

  async upload(p: UploadRequest): Promise<FileMeta> {
    const { name, left } = await this.#admit(p.room, p.from, p.name, p.contentLength);
    return this.#ingest({ ...p, name }, left);
  }

  /** Checks the name, the size against the limit and the quotas, and the upload rate. */
  async #admit(room: string, from: Uploader, rawName: string, length: number | undefined) {
    let name: string;
    try {
      name = cleanFileName(rawName);
    } catch (err) {
      if (err instanceof FileNameError) throw new FileError('BAD_NAME', err.message);
      throw err;
    }
    if (length === 0) throw new FileError('EMPTY', 'the file is empty');
    if (length !== undefined && length > this.#o.maxBytes)
      throw new FileError(
        'TOO_LARGE',
        `the file is larger than the limit of ${formatBytes(this.#o.maxBytes)}`,
      );
    const left = await this.#o.catalog.admit(room, from.identity);
    if (length !== undefined && length > Math.min(this.#o.maxBytes, left))
      throw new FileError(
        'QUOTA_EXCEEDED',
        `the file needs ${formatBytes(length)}; ${formatBytes(left)} left in your quota`,
      );
    return { name, left };
  }

  // ---- resumable uploads ---------------------------------------------------------------------------
  // The bytes of an unfinished upload wait in this edge's uploads directory (whatever the backend), so
  // a client whose connection dropped asks for the offset and sends the rest; once all bytes are there
  // they go through the same guard (hash, sniff, limit) into the store as a one-shot upload.

  /** Starts a resumable upload of `length` bytes; answers its id. */
  async beginResumable(p: {
    room: string;
    from: Uploader;
    name: string;
    declaredType: string | undefined;
    length: number;
  }): Promise<{ uploadId: string; offset: number }> {
    if (!Number.isSafeInteger(p.length) || p.length < 0)
      throw new FileError('BAD_REQUEST', 'Upload-Length must be the file size in bytes');
    const { name } = await this.#admit(p.room, p.from, p.name, p.length);
    const uploadId = newId();
    const session: UploadSession = {
      identity: p.from.identity,
      fromName: p.from.name,
      name,
      declaredType: p.declaredType,
      length: p.length,
      node: this.#o.node,
    };
    await mkdir(this.#o.uploadsDir, { recursive: true });
    await writeFile(this.#uploadPath(uploadId), '');
    await this.#o.catalog.putUpload(p.room, uploadId, JSON.stringify(session));
    return { uploadId, offset: 0 };
  }

  /** How many bytes of an upload this edge has. */
  async resumableOffset(room: string, uploadId: string, identity: string): Promise<number> {
    await this.#session(room, uploadId, identity);
    return this.#uploadedBytes(uploadId);
  }

  /**
   * Appends bytes at `offset` (which must be what this edge has); when the upload is complete, stores
   * it and answers the file. A dropped connection keeps what arrived.
   */
  async appendResumable(p: {
    room: string;
    uploadId: string;
    identity: string;
    offset: number;
    body: Readable;
  }): Promise<{ offset: number; file?: FileMeta }> {
    const session = await this.#session(p.room, p.uploadId, p.identity);
    const path = this.#uploadPath(p.uploadId);
    const have = await this.#uploadedBytes(p.uploadId);
    if (p.offset !== have)
      throw Object.assign(
        new FileError('OFFSET_MISMATCH', `this edge has ${have} bytes of the upload, not ${p.offset}`),
        {
          offset: have,
        },
      );
    let size = have;
    const remaining = session.length - have;
    const source = p.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    const bounded = async function* () {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > session.length)
          throw new FileError(
            'TOO_LARGE',
            `the upload is longer than the ${session.length} bytes it announced`,
          );
        yield chunk;
      }
    };
    try {
      if (remaining > 0) await pipeline(bounded, createWriteStream(path, { flags: 'a' }));
    } catch (err) {
      if (err instanceof FileError) {
        await truncate(path, have).catch(() => undefined);
        throw err;
      }
      // The connection dropped: what arrived stays, for the next attempt.
      throw new FileError(
        'ABORTED',
        `the connection dropped at ${await this.#uploadedBytes(p.uploadId)} bytes`,
      );
    }
    const now = await this.#uploadedBytes(p.uploadId);
    if (now < session.length) return { offset: now };
    try {
      const file = await this.#ingest(
        {
          room: p.room,
          from: { identity: session.identity, name: session.fromName },
          name: session.name,
          declaredType: session.declaredType,
          contentLength: session.length,
          body: createReadStream(path, { highWaterMark: 1024 * 1024 }),
        },
        Number.MAX_SAFE_INTEGER,
      );
      return { offset: now, file };
    } finally {
      await this.#o.catalog.removeUpload(p.room, p.uploadId);
      await rm(path, { force: true });
    }
  }

  async cancelResumable(room: string, uploadId: string, identity: string): Promise<void> {
    await this.#session(room, uploadId, identity);
    await this.#o.catalog.removeUpload(room, uploadId);
    await rm(this.#uploadPath(uploadId), { force: true });
  }

  async #session(room: string, uploadId: string, identity: string): Promise<UploadSession> {
    if (!isFileId(uploadId)) throw new FileError('NOT_FOUND', `no upload "${uploadId}"`);
    const raw = await this.#o.catalog.getUpload(room, uploadId);
    const session = raw ? (JSON.parse(raw) as UploadSession) : undefined;
    if (!session || session.identity !== identity)
      throw new FileError('NOT_FOUND', `no upload ${uploadId} of yours`);
    if (session.node !== this.#o.node)
      throw new FileError('NOT_FOUND', `upload ${uploadId} continues on edge ${session.node}, not this one`);
    return session;
  }

  async #uploadedBytes(uploadId: string): Promise<number> {
    try {
      return (await stat(this.#uploadPath(uploadId))).size;
    } catch {
      throw new FileError('NOT_FOUND', `the bytes of upload ${uploadId} are gone`);
    }
  }

  #uploadPath(uploadId: string): string {
    return join(this.#o.uploadsDir, uploadId);
  }

  async #ingest(p: UploadRequest, left: number): Promise<FileMeta> {
    const name = p.name;
    const limit = Math.min(this.#o.maxBytes, left);

    let size = 0;
    let type = '';
    // The guard does not touch a chunk once it has passed it on, so the store may take it as it is.
    const staged = await this.#o.store.stage({ handOver: true });
    // A store that hashes what it stages (off the event loop) spares hashing here.
    const hash = staged.sha256 ? undefined : createHash('sha256');
    const maxBytes = this.#o.maxBytes;
    // Read without destroying the request on a refusal, so the client still receives the answer.
    const source = p.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    const guard = async function* () {
      let head: Buffer[] | undefined = [];
      let headBytes = 0;
      for await (const chunk of source) {
        size += chunk.length;
        if (size > limit)
          throw limit < maxBytes
            ? new FileError(
                'QUOTA_EXCEEDED',
                `the file does not fit in the ${formatBytes(left)} left in your quota`,
              )
            : new FileError('TOO_LARGE', `the file is larger than the limit of ${formatBytes(maxBytes)}`);
        hash?.update(chunk);
        if (head) {
          // Nothing reaches storage until the first bytes have been sniffed.
          head.push(chunk);
          headBytes += chunk.length;
          if (headBytes < SNIFF_BYTES) continue;
          const first = Buffer.concat(head);
          head = undefined;
          type = await sniff(first, name, p.declaredType);
          yield first;
          continue;
        }
        yield chunk;
      }
      if (head) {
        if (size === 0) throw new FileError('EMPTY', 'the file is empty');
        const first = Buffer.concat(head);
        type = await sniff(first, name, p.declaredType);
        yield first;
      }
    };

    try {
      await pipeline(guard, staged.sink);
      await staged.finished();
      if (p.contentLength !== undefined && size !== p.contentLength)
        throw new FileError('ABORTED', `the upload ended after ${size} of ${p.contentLength} bytes`);
    } catch (err) {
      await staged.abort();
      if (err instanceof FileError) throw err;
      if (!p.body.readableEnded) throw new FileError('ABORTED', 'the upload was interrupted before it ended');
      throw err;
    }
    const sha256 = hash ? hash.digest('hex') : staged.sha256!();
    await staged.commit(sha256);
    const meta: FileMeta = {
      id: newId(),
      room: p.room,
      sha256,
      name,
      size,
      type,
      from: { identity: p.from.identity, name: p.from.name },
      region: this.#o.region,
      node: this.#o.node,
      ts: Date.now(),
    };
    await this.#o.catalog.put(meta);
    await this.#o.offers.offered(meta);
    await this.#o.postOffer(meta.room, p.from, offerText(meta), meta);
    return meta;
  }

  /** A file's metadata: this region's Redis, else the other regions' edges (and then remembered here). */
  async meta(room: string, id: string): Promise<FileMeta> {
    if (!isFileId(id)) throw new FileError('NOT_FOUND', `no file "${id}"`);
    const local = await this.#o.catalog.get(room, id);
    if (local) return local;
    const remote = await this.#o.remote.meta(room, id);
    if (!remote || remote.room !== room) throw new FileError('NOT_FOUND', `no file ${id} in this room`);
    await this.#o.catalog.put(remote);
    return remote;
  }

  /** A file's metadata from this region's Redis only (what other regions' edges ask: no asking back). */
  async localMeta(room: string, id: string): Promise<FileMeta> {
    const meta = isFileId(id) ? await this.#o.catalog.get(room, id) : undefined;
    if (!meta) throw new FileError('NOT_FOUND', `no file ${id} in this region`);
    return meta;
  }

  list(room: string): Promise<FileMeta[]> {
    return this.#o.catalog.list(room);
  }

  /** Opens a file for reading here; with `localOnly`, never reaches for another region (internal calls). */
  async open(meta: FileMeta, range: ByteRange | undefined, localOnly = false): Promise<OpenedFile> {
    const here = await this.#o.store.size(meta.sha256);
    if (here !== undefined)
      return { meta, stream: await this.#o.store.read(meta.sha256, range), servedFrom: 'local' };
    if (localOnly || meta.region === this.#o.region)
      throw new FileError('NOT_FOUND', `the bytes of file ${meta.id} are not in this region's storage`);
    const remote = await this.#o.remote.bytes(meta, range).catch((err) => {
      throw new FileError(
        'UNAVAILABLE',
        `the file's region (${meta.region}) did not serve it: ${(err as Error).message}`,
      );
    });
    // A slice is passed through; a whole file is also kept here, so the next download is local.
    if (range) return { meta, stream: remote, servedFrom: meta.region };
    return { meta, stream: await this.#keepWhileStreaming(meta, remote), servedFrom: meta.region };
  }

  /** Deletes a file here and in every other region (the uploader or an admin). */
  async delete(room: string, id: string, by: { identity: string; admin: boolean }): Promise<string[]> {
    const meta = await this.meta(room, id);
    if (meta.from.identity !== by.identity && !by.admin)
      throw new FileError('FORBIDDEN', 'only the person who shared the file or an admin can delete it');
    await this.forget(room, id);
    return this.#o.remote.deleted(room, id);
  }

  /** Removes a file's metadata here, and its bytes when no other file shares them. */
  async forget(room: string, id: string): Promise<boolean> {
    const removed = await this.#o.catalog.remove(room, id);
    if (!removed) return false;
    if (removed.lastReference) await this.#o.store.delete(removed.meta.sha256).catch(() => undefined);
    return true;
  }

  async #keepWhileStreaming(meta: FileMeta, remote: Readable): Promise<Readable> {
    // The same chunks go to the client too: the store copies them (no handOver).
    const staged = await this.#o.store.stage();
    const hash = staged.sha256 ? undefined : createHash('sha256');
    const toClient = new PassThrough({ highWaterMark: 1024 * 1024 });
    let bytes = 0;
    remote.on('data', (chunk: Buffer) => {
      hash?.update(chunk);
      bytes += chunk.length;
    });
    // pipe() to both: the remote is paused while either the client or the store is behind.
    remote.pipe(staged.sink);
    remote.pipe(toClient);
    const fail = () => {
      remote.destroy();
      void staged.abort();
    };
    remote.once('error', (err) => {
      toClient.destroy(err);
      fail();
    });
    toClient.once('close', () => {
      if (!remote.readableEnded) fail();
    });
    remote.once('end', () => {
      staged
        .finished()
        .then(async () => {
          const sha = hash ? hash.digest('hex') : staged.sha256!();
          if (sha !== meta.sha256 || bytes !== meta.size) {
            console.error(`[files] ${meta.id} from ${meta.region} did not match its SHA-256; not kept`);
            await staged.abort();
            return;
          }
          await staged.commit(sha);
        })
        .catch((err) => {
          console.error(`[files] keeping ${meta.id} failed: ${(err as Error).message}`);
          void staged.abort();
        });
    });
    return toClient;
  }
}

async function sniff(head: Buffer, name: string, declared: string | undefined): Promise<string> {
  try {
    return await sniffType(head, name, declared);
  } catch (err) {
    if (err instanceof SniffError) throw new FileError(err.code, err.message);
    throw err;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The chat text of an offer; the message carries the file itself too (ChatMessageInfo.file). */
export function offerText(meta: FileMeta): string {
  return `${meta.from.name} shared “${meta.name}” (${formatBytes(meta.size)})`;
}
