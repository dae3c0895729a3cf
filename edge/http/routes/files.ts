import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { InternalTokens } from '../../../lib/auth/internal';
import { type ParticipantClaims, TokenError, type TokenService } from '../../../lib/auth/tokens';
import { FileError } from '../../files/FileError';
import type { FileMeta } from '../../files/FileMeta';
import type { FileService } from '../../files/FileService';
import type { ByteRange } from '../../files/FileStore';
import { contentDisposition } from '../../files/names';
import { META_HEADER } from '../../files/RemoteFiles';
import { PREVIEWABLE } from '../../files/sniff';

export interface FileRoutesDeps {
  service: FileService;
  tokens: TokenService;
  internalTokens: InternalTokens;
}

/** Types never served as themselves, even as an attachment: documents that can run script. */
const ACTIVE =
  /^(text\/html|image\/svg\+xml|text\/xml|application\/xml|application\/xhtml\+xml|text\/javascript)/;
/** Nothing in a served file may load, run or frame anything. */
const FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox";

/**
 * Files over HTTP:
 *  POST   /api/files            raw body, name in X-File-Name (percent-encoded UTF-8) or ?name=
 *  GET    /api/files            the room's files
 *  GET    /api/files/:id        the bytes (Range; ?inline=1 previews a raster image); ?token= for links
 *  GET    /api/files/:id/meta   the metadata
 *  DELETE /api/files/:id        the uploader or an admin, in every region
 * and, for other edges with an internal token, /internal/files/:room/:id (GET, DELETE) and …/meta.
 */
export function fileRoutes(deps: FileRoutesDeps) {
  const { service } = deps;
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof FileError) {
      return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
    }
    if (err instanceof TokenError) return c.json({ error: { code: err.code, message: err.message } }, 401);
    console.error(`[files] ${c.req.method} ${c.req.path}: ${(err as Error).stack ?? err}`);
    return c.json({ error: { code: 'INTERNAL', message: 'the file request failed' } }, 500);
  });

  app.post('/api/files', async (c) => {
    const claims = await participant(deps.tokens, c);
    const name = fileName(c);
    const lengthHeader = c.req.header('content-length');
    const contentLength = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
    if (contentLength !== undefined && !Number.isSafeInteger(contentLength))
      throw new FileError('BAD_REQUEST', 'bad Content-Length');
    const body = requestBody(c);
    // A refusal before or during the body is answered at once and the rest is not stored. The connection
    // is left open: the server then discards a bounded amount of what is still in flight (64 MiB or
    // 500 ms) before closing, so the client reads the answer instead of a reset.
    const meta = await service.upload({
      room: claims.room,
      from: { identity: claims.identity, name: claims.name },
      name,
      declaredType: c.req.header('content-type'),
      contentLength,
      body,
    });
    return c.json({ file: meta }, 201);
  });

  // Resumable uploads: POST creates (Upload-Length, X-File-Name), GET/HEAD answers Upload-Offset,
  // PATCH appends at Upload-Offset (201 with the file once complete), DELETE gives up.
  app.post('/api/files/uploads', async (c) => {
    const claims = await participant(deps.tokens, c);
    const started = await service.beginResumable({
      room: claims.room,
      from: { identity: claims.identity, name: claims.name },
      name: fileName(c),
      declaredType: c.req.header('content-type'),
      length: Number(c.req.header('upload-length') ?? Number.NaN),
    });
    c.header('upload-offset', '0');
    return c.json(started, 201);
  });

  app.get('/api/files/uploads/:uploadId', async (c) => {
    const claims = await participant(deps.tokens, c);
    const offset = await service.resumableOffset(claims.room, c.req.param('uploadId'), claims.identity);
    c.header('upload-offset', String(offset));
    c.header('cache-control', 'no-store');
    return c.json({ offset });
  });

  app.patch('/api/files/uploads/:uploadId', async (c) => {
    const claims = await participant(deps.tokens, c);
    const offset = Number(c.req.header('upload-offset') ?? Number.NaN);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new FileError('BAD_REQUEST', 'Upload-Offset must say where these bytes start');
    try {
      const r = await service.appendResumable({
        room: claims.room,
        uploadId: c.req.param('uploadId'),
        identity: claims.identity,
        offset,
        body: requestBody(c),
      });
      c.header('upload-offset', String(r.offset));
      return r.file ? c.json({ file: r.file }, 201) : c.json({ offset: r.offset });
    } catch (err) {
      const at = (err as { offset?: number }).offset;
      if (at !== undefined) c.header('upload-offset', String(at));
      throw err;
    }
  });

  app.delete('/api/files/uploads/:uploadId', async (c) => {
    const claims = await participant(deps.tokens, c);
    await service.cancelResumable(claims.room, c.req.param('uploadId'), claims.identity);
    return c.json({ cancelled: true });
  });

  app.get('/api/files', async (c) => {
    const claims = await participant(deps.tokens, c);
    return c.json({ files: await service.list(claims.room) });
  });

  app.get('/api/files/:id/meta', async (c) => {
    const claims = await participant(deps.tokens, c);
    return c.json({ file: await service.meta(claims.room, c.req.param('id')) });
  });

  app.get('/api/files/:id', async (c) => {
    const claims = await participant(deps.tokens, c);
    const meta = await service.meta(claims.room, c.req.param('id'));
    return serve(c, meta, false);
  });

  app.delete('/api/files/:id', async (c) => {
    const claims = await participant(deps.tokens, c);
    const failed = await service.delete(claims.room, c.req.param('id'), {
      identity: claims.identity,
      admin: claims.grants.admin,
    });
    return c.json({ deleted: true, ...(failed.length ? { notReached: failed } : {}) });
  });

  // ---- other edges ---------------------------------------------------------------------------------

  app.get('/internal/files/:room/:id/meta', async (c) => {
    await internal(deps.internalTokens, c);
    const meta = await service.localMeta(c.req.param('room'), c.req.param('id'));
    return c.json(meta);
  });

  app.get('/internal/files/:room/:id', async (c) => {
    await internal(deps.internalTokens, c);
    const meta = await service.localMeta(c.req.param('room'), c.req.param('id'));
    return serve(c, meta, true);
  });

  app.delete('/internal/files/:room/:id', async (c) => {
    await internal(deps.internalTokens, c);
    const removed = await service.forget(c.req.param('room'), c.req.param('id'));
    return c.json({ deleted: removed }, removed ? 200 : 404);
  });

  async function serve(c: Context, meta: FileMeta, localOnly: boolean): Promise<Response> {
    let range: ByteRange | undefined;
    try {
      range = parseRange(c.req.header('range'), meta.size);
    } catch (err) {
      if (!(err instanceof FileError)) throw err;
      c.header('content-range', `bytes */${meta.size}`);
      return c.json({ error: { code: err.code, message: err.message } }, 416);
    }
    const opened = await service.open(meta, range, localOnly);
    const inline = c.req.query('inline') === '1' && PREVIEWABLE.has(meta.type);
    const headers = new Headers({
      'content-type': ACTIVE.test(meta.type) ? 'application/octet-stream' : meta.type,
      'content-disposition': contentDisposition(inline ? 'inline' : 'attachment', meta.name),
      'x-content-type-options': 'nosniff',
      'content-security-policy': FILE_CSP,
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'private, max-age=3600',
      'accept-ranges': 'bytes',
      etag: `"${meta.sha256}"`,
      'x-meetview-served-from': opened.servedFrom,
      'x-meetview-sha256': meta.sha256,
    });
    if (localOnly) headers.set(META_HEADER, Buffer.from(JSON.stringify(meta)).toString('base64url'));
    if (range) {
      headers.set('content-range', `bytes ${range.start}-${range.end}/${meta.size}`);
      headers.set('content-length', String(range.end - range.start + 1));
    } else headers.set('content-length', String(meta.size));
    const status = range ? 206 : 200;
    // On Node, the file streams straight into the socket (a Web stream in between halves the throughput).
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) {
      outgoing.writeHead(status, Object.fromEntries(headers));
      if (c.req.method === 'HEAD') {
        opened.stream.destroy();
        outgoing.end();
      } else pipeline(opened.stream, outgoing).catch(() => opened.stream.destroy());
      return RESPONSE_ALREADY_SENT;
    }
    return new Response(Readable.toWeb(opened.stream) as ReadableStream, { status, headers });
  }

  return app;
}

function fileName(c: Context): string {
  const rawName = c.req.header('x-file-name') ?? c.req.query('name');
  if (!rawName)
    throw new FileError('BAD_NAME', 'name the file: X-File-Name header (percent-encoded) or ?name=');
  try {
    return decodeURIComponent(rawName);
  } catch {
    throw new FileError('BAD_NAME', 'the file name is not valid percent-encoded UTF-8');
  }
}

async function participant(tokens: TokenService, c: Context): Promise<ParticipantClaims> {
  const auth = c.req.header('authorization');
  const token = auth?.startsWith('Bearer ') ? auth.slice(7) : c.req.query('token');
  if (!token) throw new FileError('UNAUTHORIZED', 'no token: send Authorization: Bearer <token>');
  const claims = await tokens.verify(token);
  if (!claims.grants.files) throw new FileError('FORBIDDEN', 'this token does not allow sharing files');
  return claims;
}

async function internal(tokens: InternalTokens, c: Context): Promise<void> {
  const auth = c.req.header('authorization');
  if (!auth?.startsWith('Bearer '))
    throw new FileError('UNAUTHORIZED', 'internal calls need an internal token');
  await tokens.verify(auth.slice(7));
}

// The Node request itself when running on @hono/node-server (no Web-stream conversion per chunk).
function requestBody(c: Context): Readable {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) return incoming;
  const body = c.req.raw.body;
  if (!body) return Readable.from([]);
  return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
}

/** One `bytes=` range (start-end, start-, -suffix); undefined for none; 416 when it cannot be met. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: serve the whole file, as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw rangeError(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) throw rangeError(size);
  return { start, end };
}

function rangeError(size: number): FileError {
  return new FileError('RANGE_NOT_SATISFIABLE', `the range is outside the file (0–${size - 1})`);
}
