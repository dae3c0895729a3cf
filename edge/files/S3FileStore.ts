import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
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
}

/** Largest object a single CopyObject copies; the edge's size limit must stay below it. */
export const S3_MAX_COPY_BYTES = 5 * 1024 ** 3;

/**
 * Blobs as objects `blobs/<sha256>` in one bucket of an S3-compatible store. An upload streams into a
 * multipart upload of `staging/<random>`; its commit copies it to its hash name server-side (or keeps
 * the existing blob) and deletes the staged object.
 */
export class S3FileStore implements FileStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #partSize: number;
  readonly #queueSize: number;

  private constructor(client: S3Client, o: S3StoreOptions) {
    this.#client = client;
    this.#bucket = o.bucket;
    this.#partSize = o.partSize ?? 5 * 1024 * 1024;
    this.#queueSize = o.queueSize ?? 2;
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
    const key = `staging/${Date.now()}-${randomBytes(8).toString('hex')}`;
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
    let settled = false;
    return {
      sink,
      finished: () => done,
      commit: async (sha256) => {
        assertSha256(sha256);
        await done;
        settled = true;
        try {
          if ((await this.size(sha256)) === undefined) {
            await this.#client.send(
              new CopyObjectCommand({
                Bucket: this.#bucket,
                Key: blobKey(sha256),
                CopySource: `${this.#bucket}/${key}`,
              }),
            );
          }
        } finally {
          await this.#client
            .send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
            .catch(() => undefined);
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        sink.destroy();
        await upload.abort().catch(() => undefined);
        await done.catch(() => undefined);
        // A small body may have gone as one PutObject before the abort.
        await this.#client
          .send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))
          .catch(() => undefined);
      },
    };
  }

  async size(sha256: string): Promise<number | undefined> {
    assertSha256(sha256);
    try {
      const head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: blobKey(sha256) }),
      );
      return head.ContentLength;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      throw err;
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    assertSha256(sha256);
    const out = await this.#client.send(
      new GetObjectCommand({
        Bucket: this.#bucket,
        Key: blobKey(sha256),
        ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }),
    );
    const body = out.Body;
    if (body instanceof Readable) return body;
    throw new Error('S3 GetObject returned no Node stream');
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: blobKey(sha256) }));
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

function blobKey(sha256: string): string {
  return `blobs/${sha256}`;
}
