import type { ChatMessageInfo, FileOfferInfo } from '../../../proto/signaling/messages';

/** Raster images the client previews inline (the edge serves only these with `inline`). */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);
/** Larger images are offered for download only: a preview should not cost a big download. */
const PREVIEW_MAX_BYTES = 8 * 1024 * 1024;
/** Attempts of one upload when the connection drops (not when the server refuses it). */
const MAX_ATTEMPTS = 3;

/** An upload or download failure, with the server's error code when it sent one. */
export class FileTransferError extends Error {
  override readonly name = 'FileTransferError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface UploadProgress {
  sent: number;
  total: number;
  attempt: number;
}

/** Reads the id in an offer's chat text (`… [file:<id>]`), for messages that do not carry `file`. */
const MARKER = /\[file:([0-9A-HJKMNP-TV-Z]{26})\]$/;

export function offerIdOf(m: Pick<ChatMessageInfo, 'text' | 'file' | 'kind'>): string | undefined {
  if (m.file) return m.file.id;
  if (m.kind !== 'system') return undefined;
  return MARKER.exec(m.text)?.[1];
}

export function canPreview(f: FileOfferInfo): boolean {
  return PREVIEWABLE.has(f.type) && f.size <= PREVIEW_MAX_BYTES;
}

export function formatSize(n: number, locale: string): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 ? 0 : v < 10 ? 1 : 0;
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(v)} ${units[i]}`;
}

/**
 * The edge's file API for the page: uploads with progress, cancel and retries on a dropped
 * connection; offer metadata; download and preview URLs. The token comes from a function because the
 * session may renew it.
 */
export class FileTransfer {
  readonly #token: () => string | null;
  readonly #base: string;
  readonly #meta = new Map<string, Promise<FileOfferInfo>>();

  constructor(token: () => string | null, base = '') {
    this.#token = token;
    this.#base = base;
  }

  get available(): boolean {
    return this.#token() !== null;
  }

  /**
   * Sends a file as a resumable upload; resolves with the offer once the edge has stored it. When the
   * connection drops, it asks the edge how many bytes arrived and sends the rest (a few attempts).
   * `signal` cancels (and tells the edge to drop what it has).
   */
  async upload(
    file: File,
    onProgress: (p: UploadProgress) => void,
    signal: AbortSignal,
  ): Promise<FileOfferInfo> {
    const { uploadId } = await this.#json<{ uploadId: string }>('POST', '/api/files/uploads', {
      'x-file-name': encodeURIComponent(file.name),
      'content-type': file.type || 'application/octet-stream',
      'upload-length': String(file.size),
    });
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const from = offset;
        const r = await this.#append(
          uploadId,
          file,
          from,
          (sent) => onProgress({ sent: from + sent, total: file.size, attempt }),
          signal,
        );
        if (r.file) {
          this.#meta.set(r.file.id, Promise.resolve(r.file));
          return r.file;
        }
        offset = r.offset;
      } catch (err) {
        if (!(err instanceof FileTransferError)) throw err;
        if (err.code === 'CANCELLED' || signal.aborted) {
          void this.#json('DELETE', `/api/files/uploads/${uploadId}`).catch(() => undefined);
          throw new FileTransferError('CANCELLED', 'cancelled');
        }
        if ((err.code !== 'NETWORK' && err.code !== 'OFFSET_MISMATCH') || attempt >= MAX_ATTEMPTS) throw err;
        // A dropped connection: wait a little, ask the edge where to continue, send the rest.
        await new Promise((r) => setTimeout(r, 500 * attempt));
        offset = await this.#json<{ offset: number }>('GET', `/api/files/uploads/${uploadId}`)
          .then((o) => o.offset)
          .catch(() => offset);
      }
    }
  }

  async #json<T>(method: string, path: string, headers: Record<string, string> = {}): Promise<T> {
    const token = this.#token();
    if (!token) throw new FileTransferError('UNAUTHORIZED', 'not in a meeting');
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...headers },
      });
    } catch (err) {
      throw new FileTransferError('NETWORK', String((err as Error).message ?? err));
    }
    const body = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
    if (!res.ok)
      throw new FileTransferError(
        body.error?.code ?? `HTTP_${res.status}`,
        body.error?.message ?? `HTTP ${res.status}`,
      );
    return body;
  }

  #append(
    uploadId: string,
    file: File,
    offset: number,
    onSent: (n: number) => void,
    signal: AbortSignal,
  ): Promise<{ offset: number; file?: FileOfferInfo }> {
    return new Promise((resolve, reject) => {
      const token = this.#token();
      if (!token) {
        reject(new FileTransferError('UNAUTHORIZED', 'not in a meeting'));
        return;
      }
      if (signal.aborted) {
        reject(new FileTransferError('CANCELLED', 'cancelled'));
        return;
      }
      // XMLHttpRequest, because fetch() reports no upload progress.
      const xhr = new XMLHttpRequest();
      xhr.open('PATCH', `${this.#base}/api/files/uploads/${encodeURIComponent(uploadId)}`);
      xhr.setRequestHeader('authorization', `Bearer ${token}`);
      xhr.setRequestHeader('upload-offset', String(offset));
      xhr.setRequestHeader('content-type', 'application/offset+octet-stream');
      xhr.upload.onprogress = (e) => onSent(e.loaded);
      const onAbort = () => xhr.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      xhr.onabort = () => {
        done();
        reject(new FileTransferError('CANCELLED', 'cancelled'));
      };
      xhr.onerror = () => {
        done();
        reject(new FileTransferError('NETWORK', 'the connection dropped'));
      };
      xhr.onload = () => {
        done();
        let body: {
          file?: FileOfferInfo;
          offset?: number;
          error?: { code: string; message: string };
        } = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // reported below
        }
        if (xhr.status === 201 && body.file) {
          const f = body.file;
          resolve({
            offset: file.size,
            file: { id: f.id, name: f.name, size: f.size, type: f.type, sha256: f.sha256 },
          });
        } else if (xhr.status === 200 && typeof body.offset === 'number') resolve({ offset: body.offset });
        else
          reject(
            new FileTransferError(
              body.error?.code ?? `HTTP_${xhr.status}`,
              body.error?.message ?? `HTTP ${xhr.status}`,
            ),
          );
      };
      xhr.send(file.slice(offset));
    });
  }

  /** An offer's metadata (for chat messages that name a file by id only). */
  offer(id: string): Promise<FileOfferInfo> {
    let p = this.#meta.get(id);
    if (!p) {
      p = (async () => {
        const token = this.#token();
        const res = await fetch(`${this.#base}/api/files/${encodeURIComponent(id)}/meta`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        });
        const body = (await res.json().catch(() => ({}))) as {
          file?: FileOfferInfo;
          error?: { code: string; message: string };
        };
        if (!res.ok || !body.file)
          throw new FileTransferError(
            body.error?.code ?? `HTTP_${res.status}`,
            body.error?.message ?? 'no such file',
          );
        const f = body.file;
        return { id: f.id, name: f.name, size: f.size, type: f.type, sha256: f.sha256 };
      })();
      p.catch(() => this.#meta.delete(id));
      this.#meta.set(id, p);
    }
    return p;
  }

  /** A link that downloads the file (a link cannot send headers, so the token rides in the query). */
  downloadUrl(id: string): string {
    return `${this.#base}/api/files/${encodeURIComponent(id)}?token=${encodeURIComponent(this.#token() ?? '')}`;
  }

  previewUrl(id: string): string {
    return `${this.downloadUrl(id)}&inline=1`;
  }
}

/** The meeting's token from the session the page runs (`window.__meetview`), read from its signaling URL. */
export function sessionToken(): string | null {
  const url = (globalThis as { __meetview?: { session?: { signaling?: { url?: string } } } }).__meetview
    ?.session?.signaling?.url;
  if (!url) return null;
  try {
    return new URL(url, 'http://x').searchParams.get('token');
  } catch {
    return null;
  }
}
