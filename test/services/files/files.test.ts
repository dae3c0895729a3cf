import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSharing } from '../../../edge/files/FileSharing';
import { loadFilesConfig } from '../../../edge/files/filesConfig';
import { InternalTokens } from '../../../lib/auth/internal';
import { KeySet } from '../../../lib/auth/keys';
import { createKafka } from '../../../lib/kafka';
import { createRedisCluster, roomKey } from '../../../lib/redis';
import type { ChatMessageInfo } from '../../../proto/signaling/messages';
import { type EdgeProcess, Mesh, startEdges } from '../../../regions/launcher';
import { devToken } from '../../support/liveMesh';
import { SignalingTestClient } from '../../support/SignalingTestClient';
import {
  downloadHash,
  filesUnder,
  generated,
  opaqueBytes,
  regionEdgesEnv,
  S3_KEYS,
  upload,
  Versity,
} from './support';

// Two regions (seoul, frankfurt) with MirrorMaker 2 between them, one edge each; the whole suite runs
// once on the filesystem store and once on Versity S3 Gateway (the S3 backend) on loopback.
const PORT_BASE = 18000;
const VERSITY_PORT = PORT_BASE + 350;
const MAX_BYTES = 16 * 1024 * 1024;
const UPLOADS_PER_MINUTE = 8;

let mesh: Mesh;
let versity: Versity | undefined;
let s3: S3Client | undefined;

beforeAll(async () => {
  mesh = await Mesh.start({
    name: 'files-test',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
  });
  try {
    versity = await Versity.start(join(mesh.dir, 's3'), VERSITY_PORT);
  } catch (err) {
    await mesh.stop();
    throw err;
  }
  s3 = new S3Client({
    endpoint: versity.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_KEYS,
  });
});

afterAll(async () => {
  s3?.destroy();
  await versity?.stop();
  await mesh?.stop();
});

describe.each(['fs', 's3'] as const)('file sharing on the %s backend', (backend) => {
  let edges: EdgeProcess[] = [];
  let seoul: string;
  let frankfurt: string;
  const bucket = (region: string) => `files-${region}`;

  beforeAll(async () => {
    edges = await startEdges(mesh, {
      edgesPerRegion: 1,
      env: {
        MEETVIEW_FILES_BACKEND: backend,
        MEETVIEW_FILES_MAX_BYTES: String(MAX_BYTES),
        MEETVIEW_FILES_UPLOADS_PER_MINUTE: String(UPLOADS_PER_MINUTE),
        MEETVIEW_REGION_EDGES: regionEdgesEnv(mesh, 1),
        ...(backend === 's3'
          ? {
              MEETVIEW_S3_ENDPOINT: versity!.endpoint,
              MEETVIEW_S3_BUCKET: 'files-{region}',
              MEETVIEW_S3_ACCESS_KEY: S3_KEYS.accessKeyId,
              MEETVIEW_S3_SECRET_KEY: S3_KEYS.secretAccessKey,
            }
          : {}),
      },
    });
    seoul = edges.find((e) => e.region === 'seoul')!.url;
    frankfurt = edges.find((e) => e.region === 'frankfurt')!.url;
  });

  afterAll(async () => {
    for (const e of edges) await e.process.stop();
  });

  const room = `files-${backend}`;
  const token = async (identity: string, r = room, grants?: object) =>
    (await devToken(seoul, { room: r, identity, name: identity, ...(grants ? { grants } : {}) })).token;

  /** What a store holds: staged (in-progress) items and blobs. */
  async function stored(region: string): Promise<{ staging: string[]; blobs: string[]; multipart: number }> {
    if (backend === 'fs') {
      const dir = join(mesh.dir, 'files', region);
      return {
        staging: filesUnder(join(dir, 'staging')),
        blobs: filesUnder(join(dir, 'blobs')),
        multipart: 0,
      };
    }
    const list = async (prefix: string) =>
      (
        (await s3!.send(new ListObjectsV2Command({ Bucket: bucket(region), Prefix: prefix }))).Contents ?? []
      ).map((o) => o.Key!);
    // Uploads stream to objects/…; a committed one is named by a pointer blobs/<sha256>. An object no
    // pointer names is a leftover.
    const blobs = await list('blobs/');
    const named = new Set(
      await Promise.all(
        blobs.map(
          async (key) =>
            (await s3!.send(new HeadObjectCommand({ Bucket: bucket(region), Key: key }))).Metadata?.object,
        ),
      ),
    );
    const staging = (await list('objects/')).filter((key) => !named.has(key));
    const mp = await s3!.send(new ListMultipartUploadsCommand({ Bucket: bucket(region) }));
    return { staging, blobs, multipart: mp.Uploads?.length ?? 0 };
  }

  it('uploads and downloads identical bytes, with safe headers, a Range slice, and one copy per content', async () => {
    const t = await token('ana');
    const data = opaqueBytes(3 * 1024 * 1024 + 17);
    const sha = createHash('sha256').update(data).digest('hex');
    const before = (await stored('seoul')).blobs.length;
    const up = await upload(seoul, t, '회의 자료.bin', data);
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body.file).toMatchObject({ sha256: sha, size: data.length, name: '회의 자료.bin' });
    const id = up.body.file!.id;

    const down = await downloadHash(`${seoul}/api/files/${id}`, { authorization: `Bearer ${t}` });
    expect(down.status).toBe(200);
    expect(down.sha256).toBe(sha);
    expect(down.headers.get('content-disposition')).toBe(
      `attachment; filename="__ __.bin"; filename*=UTF-8''${encodeURIComponent('회의 자료.bin')}`,
    );
    expect(down.headers.get('x-content-type-options')).toBe('nosniff');
    expect(down.headers.get('content-security-policy')).toContain('sandbox');
    expect(down.headers.get('content-security-policy')).toContain("default-src 'none'");

    const slice = await fetch(`${seoul}/api/files/${id}?token=${t}`, {
      headers: { range: 'bytes=1000-1999' },
    });
    expect(slice.status).toBe(206);
    expect(slice.headers.get('content-range')).toBe(`bytes 1000-1999/${data.length}`);
    expect(Buffer.from(await slice.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
    const tail = await fetch(`${seoul}/api/files/${id}?token=${t}`, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(data.length - 5))).toBe(true);
    const outside = await fetch(`${seoul}/api/files/${id}?token=${t}`, {
      headers: { range: `bytes=${data.length}-` },
    });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${data.length}`);
    const head = await fetch(`${seoul}/api/files/${id}?token=${t}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.length));

    // The same content shared again is a new offer of the same stored blob.
    const again = await upload(seoul, await token('bo'), 'copy.bin', data);
    expect(again.status).toBe(201);
    expect(again.body.file!.id).not.toBe(id);
    expect((await stored('seoul')).blobs.length).toBe(before + 1);
  });

  it('posts the offer into the room’s chat, with who shared it', async () => {
    const t = await token('chloe');
    const up = await upload(seoul, t, 'notes.txt', Buffer.from('minutes of the meeting\n'), {
      type: 'text/plain',
    });
    expect(up.status).toBe(201);
    const client = await SignalingTestClient.connect(`${seoul.replace('http', 'ws')}/rtc?token=${t}`);
    try {
      await client.request('join', {});
      const deadline = Date.now() + 10_000;
      let offer: ChatMessageInfo | undefined;
      while (!offer && Date.now() < deadline) {
        const { messages } = await client.request('chat.history', { limit: 100 });
        offer = messages.find((m) => m.file?.id === up.body.file!.id);
        if (!offer) await new Promise((r) => setTimeout(r, 200));
      }
      expect(offer, 'offer in the chat history').toBeDefined();
      expect(offer!.kind).toBe('system');
      expect(offer!.from.identity).toBe('chloe');
      expect(offer!.text).toContain('notes.txt');
      // The message carries the offer itself: what a client needs to show and download it.
      expect(offer!.file).toEqual({
        id: up.body.file!.id,
        name: 'notes.txt',
        size: 23,
        type: 'text/plain',
        sha256: up.body.file!.sha256,
      });
    } finally {
      client.close();
    }
  });

  it('a file offered while nobody is in the room is in the history of whoever joins next', async () => {
    // The room has a history (someone was in it), then nobody is: no edge hosts it when the offer is written.
    const quiet = `${room}-quiet`;
    const first = await SignalingTestClient.connect(
      `${seoul.replace('http', 'ws')}/rtc?token=${await token('ines', quiet)}`,
    );
    await first.request('join', {});
    await first.request('chat.send', { text: 'before the file' });
    await first.request('leave', {});
    first.close();
    await new Promise((r) => setTimeout(r, 1000)); // the edge has closed the room and consumed the chat

    const t = await token('joao', quiet);
    const up = await upload(seoul, t, 'agenda.txt', Buffer.from('1. files\n'), { type: 'text/plain' });
    expect(up.status).toBe(201);
    await new Promise((r) => setTimeout(r, 1000)); // consumed while no one is in the room
    const next = await SignalingTestClient.connect(`${seoul.replace('http', 'ws')}/rtc?token=${t}`);
    try {
      await next.request('join', {});
      const { messages } = await next.request('chat.history', { limit: 100 });
      expect(messages.map((m) => m.text)).toContain('before the file');
      expect(
        messages.find((m) => m.file?.id === up.body.file!.id),
        'offer in the history',
      ).toBeDefined();
    } finally {
      next.close();
    }
  });

  it('downloads in another region: identical bytes, fetched from the file’s region once, then local', async () => {
    const t = await token('dan');
    const data = opaqueBytes(5 * 1024 * 1024);
    const sha = createHash('sha256').update(data).digest('hex');
    const up = await upload(seoul, t, 'slides.bin', data);
    expect(up.status).toBe(201);
    const id = up.body.file!.id;
    const tB = (await devToken(frankfurt, { room, identity: 'eva', name: 'eva' })).token;

    const first = await downloadHash(`${frankfurt}/api/files/${id}`, { authorization: `Bearer ${tB}` });
    expect(first.status).toBe(200);
    expect(first.sha256).toBe(sha);
    expect(first.headers.get('x-meetview-served-from')).toBe('seoul');
    // Kept in frankfurt's storage once the stream completed and its SHA-256 matched.
    const deadline = Date.now() + 10_000;
    while (!(await stored('frankfurt')).blobs.some((b) => b.endsWith(sha)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const second = await downloadHash(`${frankfurt}/api/files/${id}`, { authorization: `Bearer ${tB}` });
    expect(second.sha256).toBe(sha);
    expect(second.headers.get('x-meetview-served-from')).toBe('local');

    // The offer reached frankfurt's Redis through the mirrored file-offers topic as well.
    const up2 = await upload(seoul, t, 'later.bin', opaqueBytes(1000));
    let listed = false;
    const until = Date.now() + 15_000;
    while (!listed && Date.now() < until) {
      const res = await fetch(`${frankfurt}/api/files?token=${tB}`);
      listed = ((await res.json()) as { files: { id: string }[] }).files.some(
        (f) => f.id === up2.body.file!.id,
      );
      if (!listed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(listed, 'offer mirrored to frankfurt').toBe(true);
  });

  it('resumes an upload after a dropped connection, from the offset the edge has', async () => {
    const t = await token('rio');
    const data = opaqueBytes(6 * 1024 * 1024 + 5);
    const sha = createHash('sha256').update(data).digest('hex');
    const auth = { authorization: `Bearer ${t}` };
    const created = await fetch(`${seoul}/api/files/uploads`, {
      method: 'POST',
      headers: {
        ...auth,
        'x-file-name': encodeURIComponent('이어받기.bin'),
        'upload-length': String(data.length),
      },
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const { uploadId } = (await created.json()) as { uploadId: string };

    // Half the bytes, then the connection drops.
    const http = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = http.request(new URL(`/api/files/uploads/${uploadId}`, seoul), {
        method: 'PATCH',
        headers: { ...auth, 'upload-offset': '0', 'content-length': String(data.length) },
      });
      req.on('error', () => resolve());
      req.write(data.subarray(0, 3 * 1024 * 1024), () => {
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 300);
      });
    });
    let offset = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      const head = await fetch(`${seoul}/api/files/uploads/${uploadId}`, { headers: auth });
      offset = Number(head.headers.get('upload-offset'));
      if (offset > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(3 * 1024 * 1024);

    // The wrong offset is refused with the right one.
    const wrong = await fetch(`${seoul}/api/files/uploads/${uploadId}`, {
      method: 'PATCH',
      headers: { ...auth, 'upload-offset': '1' },
      body: data.subarray(1, 10),
    });
    expect(wrong.status).toBe(409);
    expect(wrong.headers.get('upload-offset')).toBe(String(offset));

    const rest = await fetch(`${seoul}/api/files/uploads/${uploadId}`, {
      method: 'PATCH',
      headers: { ...auth, 'upload-offset': String(offset) },
      body: data.subarray(offset),
    });
    expect(rest.status, await rest.clone().text()).toBe(201);
    const { file } = (await rest.json()) as { file: { id: string; sha256: string; name: string } };
    expect(file.sha256).toBe(sha);
    expect(file.name).toBe('이어받기.bin');
    expect((await downloadHash(`${seoul}/api/files/${file.id}?token=${t}`)).sha256).toBe(sha);
    // The session is gone once the file is stored.
    expect((await fetch(`${seoul}/api/files/uploads/${uploadId}`, { headers: auth })).status).toBe(404);
  });

  it('deletes for the uploader or an admin only, in every region', async () => {
    const t = await token('fay');
    const data = opaqueBytes(200_000);
    const sha = createHash('sha256').update(data).digest('hex');
    const up = await upload(seoul, t, 'gone.bin', data);
    const id = up.body.file!.id;
    const tB = (await devToken(frankfurt, { room, identity: 'gus', name: 'gus' })).token;
    expect((await downloadHash(`${frankfurt}/api/files/${id}?token=${tB}`)).sha256).toBe(sha);

    const other = await fetch(`${seoul}/api/files/${id}?token=${await token('hal')}`, { method: 'DELETE' });
    expect(other.status).toBe(403);
    const del = await fetch(`${seoul}/api/files/${id}?token=${t}`, { method: 'DELETE' });
    expect(del.status, await del.clone().text()).toBe(200);
    expect((await fetch(`${seoul}/api/files/${id}?token=${t}`)).status).toBe(404);
    expect((await fetch(`${frankfurt}/api/files/${id}?token=${tB}`)).status).toBe(404);
    expect((await stored('seoul')).blobs.some((b) => b.endsWith(sha))).toBe(false);
    expect((await stored('frankfurt')).blobs.some((b) => b.endsWith(sha))).toBe(false);
  });

  describe('refuses abuse with a clear error and leaves nothing behind', () => {
    async function refused(
      answer: Promise<{ status: number; body: { error?: { code: string; message: string } } }>,
      status: number,
      code: string,
    ) {
      const blobs = (await stored('seoul')).blobs.length;
      const a = await answer;
      expect(a.status, JSON.stringify(a.body)).toBe(status);
      expect(a.body.error?.code).toBe(code);
      expect(a.body.error?.message.length).toBeGreaterThan(5);
      // Staged bytes are removed once the refusal is handled (asynchronously for a dropped body).
      const deadline = Date.now() + 5000;
      let s = await stored('seoul');
      while ((s.staging.length > 0 || s.multipart > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = await stored('seoul');
      }
      expect(s.staging).toEqual([]);
      expect(s.multipart).toBe(0);
      expect(s.blobs.length).toBe(blobs);
    }

    it('over the size limit: stopped early, with or without Content-Length', async () => {
      const t = await token('ivy');
      const declared = generated(MAX_BYTES * 4);
      await refused(
        upload(seoul, t, 'big.bin', declared.stream, { length: MAX_BYTES * 4 }),
        413,
        'TOO_LARGE',
      );
      const chunked = generated(MAX_BYTES * 4);
      const answer = upload(seoul, t, 'big.bin', chunked.stream);
      await refused(answer, 413, 'TOO_LARGE');
      // The edge answered before the client had sent the whole body.
      expect((await answer).sent).toBeLessThan(MAX_BYTES * 3);
    });

    it('tokens: none, forged, another room’s, and one without the files grant', async () => {
      const data = Buffer.from('hello');
      await refused(upload(seoul, undefined, 'a.txt', data), 401, 'UNAUTHORIZED');
      await refused(upload(seoul, 'not.a.jwt', 'a.txt', data), 401, 'INVALID_TOKEN');
      await refused(
        upload(seoul, await token('jo', room, { files: false }), 'a.txt', data),
        403,
        'FORBIDDEN',
      );
      const up = await upload(seoul, await token('kim'), 'mine.txt', data);
      const elsewhere = await token('lee', `${room}-other`);
      const res = await fetch(`${seoul}/api/files/${up.body.file!.id}?token=${elsewhere}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    });

    it('names: path parts are dropped, NUL and bidi controls refused', async () => {
      const t = await token('max');
      for (const [raw, clean] of [
        ['../../etc/passwd', 'passwd'],
        ['..\\..\\x', 'x'],
        ['/etc/shadow', 'shadow'],
        ['C:\\Windows\\win.ini', 'win.ini'],
      ]) {
        const up = await upload(seoul, t, raw!, Buffer.from(`content of ${raw}`));
        expect(up.status, raw).toBe(201);
        expect(up.body.file!.name).toBe(clean);
      }
      await refused(upload(seoul, t, 'a\u0000b.txt', Buffer.from('x')), 400, 'BAD_NAME');
      await refused(upload(seoul, t, 'invoice\u202Efdp.exe', Buffer.from('x')), 400, 'BAD_NAME');
      await refused(upload(seoul, t, '%ZZ', Buffer.from('x'), { rawName: true }), 400, 'BAD_NAME');
    });

    it('content: markup with script as an image, an executable, an empty file', async () => {
      const t = await token('ned');
      const html = Buffer.from(
        '<!doctype html><html><body><script>alert(document.cookie)</script></body></html>',
      );
      await refused(upload(seoul, t, 'cat.png', html, { type: 'image/png' }), 415, 'ACTIVE_CONTENT');
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>');
      await refused(upload(seoul, t, 'dog.jpg', svg, { type: 'image/jpeg' }), 415, 'ACTIVE_CONTENT');
      const fake = Buffer.from('just text, not a picture');
      await refused(upload(seoul, t, 'bird.gif', fake, { type: 'image/gif' }), 415, 'TYPE_MISMATCH');
      const elf = Buffer.concat([Buffer.from('7f454c46020101000000000000000000', 'hex'), randomBytes(4000)]);
      await refused(upload(seoul, t, 'tool.bin', elf), 415, 'TYPE_REFUSED');
      await refused(upload(seoul, t, 'empty.txt', Buffer.alloc(0)), 400, 'EMPTY');
      await refused(upload(seoul, t, 'empty.txt', Readable.from([])), 400, 'EMPTY');
    });

    it('an upload aborted halfway', async () => {
      const t = await token('ola');
      const before = await stored('seoul');
      const gen = generated(8 * 1024 * 1024);
      let written = 0;
      const http = await import('node:http');
      await new Promise<void>((resolve) => {
        const req = http.request(new URL('/api/files', seoul), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${t}`,
            'x-file-name': 'half.bin',
            'content-length': String(8 * 1024 * 1024),
          },
        });
        req.on('error', () => resolve());
        gen.stream.on('data', (c: Buffer) => {
          written += c.length;
          if (written >= 4 * 1024 * 1024) {
            gen.stream.destroy();
            req.destroy();
            resolve();
            return;
          }
          if (!req.write(c)) gen.stream.pause();
        });
        req.on('drain', () => gen.stream.resume());
      });
      const deadline = Date.now() + 5000;
      let s = await stored('seoul');
      while ((s.staging.length > 0 || s.multipart > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = await stored('seoul');
      }
      expect(s.staging).toEqual([]);
      expect(s.multipart).toBe(0);
      expect(s.blobs.length).toBe(before.blobs.length);
    });

    it('too many uploads too fast', async () => {
      const t = await token('pia');
      for (let i = 0; i < UPLOADS_PER_MINUTE; i++) {
        const up = await upload(seoul, t, `n${i}.txt`, Buffer.from(`note ${i}`));
        expect(up.status).toBe(201);
      }
      await refused(upload(seoul, t, 'one-more.txt', Buffer.from('one more')), 429, 'RATE_LIMITED');
    });
  });
});

describe('retention', () => {
  it('removes the files of a room nobody is in once the retention has passed, and keeps an active room’s', async () => {
    const seoul = mesh.info.regions.seoul!;
    const redis = createRedisCluster(seoul.redis!.nodes.map((n) => ({ host: n.host, port: n.port })));
    const kafka = createKafka({ brokers: seoul.kafka!.bootstrap, clientId: 'files-retention-test' });
    const dir = join(mesh.dir, 'retention-store');
    const posted: string[] = [];
    const sharing = await FileSharing.start({
      config: {
        ...loadFilesConfig({
          MEETVIEW_REGION: 'seoul',
          MEETVIEW_FILES_DIR: dir,
          MEETVIEW_FILES_RETENTION_S: '1',
        }),
      },
      region: 'seoul',
      node: 'seoul-retention-test',
      redis,
      kafka,
      internalTokens: new InternalTokens(KeySet.parse(`t1:${'r'.repeat(48)}`)),
      postOffer: async (room, _about, text) => {
        posted.push(`${room}: ${text}`);
      },
    });
    try {
      const quiet = 'retention-quiet';
      const busy = 'retention-busy';
      const from = { identity: 'rae', name: 'Rae' };
      const put = (room: string, text: string) =>
        sharing.service.upload({
          room,
          from,
          name: `${text}.txt`,
          declaredType: 'text/plain',
          contentLength: undefined,
          body: Readable.from([Buffer.from(text)]),
        });
      const a = await put(quiet, 'quiet room notes');
      const b = await put(busy, 'busy room notes');
      expect(posted).toHaveLength(2);
      await redis.hset(roomKey(busy, 'participants'), 'someone', '{}');
      await new Promise((r) => setTimeout(r, 1200));
      const expired = await sharing.sweep();
      expect(expired).toContain(quiet);
      expect(expired).not.toContain(busy);
      await expect(sharing.service.localMeta(quiet, a.id)).rejects.toThrow(/no file/);
      expect(await sharing.service.store.size(a.sha256)).toBeUndefined();
      expect((await sharing.service.localMeta(busy, b.id)).sha256).toBe(b.sha256);
      expect(await sharing.service.store.size(b.sha256)).toBe(b.size);
      await redis.del(roomKey(busy, 'participants'));
    } finally {
      await sharing.close();
      redis.disconnect();
    }
  });
});
