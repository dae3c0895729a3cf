import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertSha256, type ByteRange, type FileStore, type StagedBlob } from './FileStore';

export interface S3StoreOptions {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Multipart part size; memory per upload is about partSize × queueSize. */
  partSize?: number;
  queueSize?: number;
  /**
   * Uploads streaming into the bucket at once; the others wait (their clients are held back by TCP),
   * which bounds the part buffers (about 18 MiB per upload) however many people upload together.
   */
  concurrentUploads?: number;
}

/** The largest file this store takes (5 GiB: within every S3-compatible store's single-object limits). */
export const S3_MAX_BYTES = 5 * 1024 ** 3;

/**
 * Blobs in one bucket of an S3-compatible store. An upload streams into a multipart upload of
 * `objects/<random>` (its hash is known only at the end, and S3 cannot rename); the commit writes the
 * empty pointer object `blobs/<sha256>` naming it (metadata `object` and `size`), or deletes the new
 * object when that content is already stored. A read is a HEAD of the pointer and a GET. Copying each
 * upload to its hash name server-side instead doubled the upload time of large files.
 */
export class S3FileStore implements FileStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #slots: Slots;

  private constructor(client: S3Client, o: S3StoreOptions) {
    this.#client = client;
    this.#bucket = o.bucket;
    this.#partSize = o.partSize ?? 5 * 1024 * 1024;
    this.#queueSize = o.queueSize ?? 1;
    this.#slots = new Slots(o.concurrentUploads ?? 6);
  }

  static async open(o: S3StoreOptions): Promise<S3FileStore> {
    const client = new S3Client({
      endpoint: o.endpoint,
      region: o.region,
      forcePathStyle: true,
      credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
      // Checksums on every request would read each part twice; TLS/HTTP and our SHA-256 cover integrity.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      await client.send(new HeadBucketCommand({ Bucket: o.bucket }));
    } catch {
      try {
        await client.send(new CreateBucketCommand({ Bucket: o.bucket }));
      } catch (err) {
        client.destroy();
        throw new Error(
          `S3 store at ${o.endpoint}: cannot open bucket "${o.bucket}": ${(err as Error).message}`,
        );
      }
    }
    return new S3FileStore(client, o);
  }

  async stage(): Promise<StagedBlob> {
    const release = await this.#slots.acquire();
    const key = `${OBJECTS}${Date.now()}-${randomBytes(8).toString('hex')}`;
    const sink = new PassThrough({ highWaterMark: 1024 * 1024 });
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: sink },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    const done = upload.done().then(() => undefined);
    done.catch(() => undefined);
    // The slot is held while parts are buffered: until the multipart upload ends, whichever way.
    done.then(release, release);
    let settled = false;
    const drop = () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })).catch(() => undefined);
    return {
      sink,
      finished: () => done,
      commit: async (sha256) => {
        assertSha256(sha256);
        await done;
        settled = true;
        // Same content already stored: keep the existing blob (files are stored once).
        if (await this.#pointer(sha256)) {
          await drop();
          return;
        }
        const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: blobKey(sha256),
            Body: '',
            Metadata: { object: key, size: String(head.ContentLength ?? 0) },
          }),
        );
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        sink.destroy();
        await upload.abort().catch(() => undefined);
        await done.catch(() => undefined);
        // A small body may have gone as one PutObject before the abort.
        await drop();
      },
    };
  }

  async size(sha256: string): Promise<number | undefined> {
    assertSha256(sha256);
    return (await this.#pointer(sha256))?.size;
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    assertSha256(sha256);
    const pointer = await this.#pointer(sha256);
    if (!pointer) throw new Error(`no blob ${sha256} in bucket ${this.#bucket}`);
    const out = await this.#client.send(
      new GetObjectCommand({
        Bucket: this.#bucket,
        Key: pointer.object,
        ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }),
    );
    const body = out.Body;
    if (body instanceof Readable) return body;
    throw new Error('S3 GetObject returned no Node stream');
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    const pointer = await this.#pointer(sha256);
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: blobKey(sha256) }));
    if (pointer)
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: pointer.object }));
  }

  async #pointer(sha256: string): Promise<{ object: string; size: number } | undefined> {
    try {
      const head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: blobKey(sha256) }),
      );
      const object = head.Metadata?.object;
      if (!object?.startsWith(OBJECTS)) return undefined;
      return { object, size: Number(head.Metadata?.size ?? 0) };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      throw err;
    }
  }

  /** Writes a stream straight to `bench/<key>` with the same multipart settings (benchmarks compare the edge with this). */
  async putDirect(key: string, body: Readable): Promise<void> {
    await new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: `bench/${key}`, Body: body },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
    }).done();
  }

  async deleteDirect(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: `bench/${key}` }));
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}

/** Where uploads stream to; a committed one stays there, named by its pointer. */
const OBJECTS = 'objects/';

function blobKey(sha256: string): string {
  return `blobs/${sha256}`;
}

/** A counting semaphore: acquire() resolves with a release function once a slot is free. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}
