import { fileTypeFromBuffer } from 'file-type';
import { extensionOf } from './names';

/** How many leading bytes the sniffer looks at. */
export const SNIFF_BYTES = 64 * 1024;

export type SniffRefusal = 'TYPE_REFUSED' | 'TYPE_MISMATCH' | 'ACTIVE_CONTENT';

export class SniffError extends Error {
  override readonly name = 'SniffError';
  constructor(
    readonly code: SniffRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** Executables and installers: never relayed between people in a meeting. */
const REFUSED = new Set([
  'application/x-msdownload',
  'application/vnd.microsoft.portable-executable',
  'application/x-elf',
  'application/x-mach-binary',
  'application/x-executable',
  'application/x-sharedlib',
  'application/vnd.android.package-archive',
  'application/x-msi',
  'application/x-ms-installer',
  'application/x-apple-diskimage',
]);
const REFUSED_EXTENSIONS = new Set([
  'exe',
  'dll',
  'scr',
  'com',
  'msi',
  'bat',
  'cmd',
  'ps1',
  'vbs',
  'jar',
  'apk',
]);

/** Raster images a browser may show inline (never SVG: it is a document that can run script). */
export const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);

const MEDIA_EXTENSIONS: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
  ico: 'image/x-icon',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
};

/**
 * Decides a file's type from its first bytes. The client's extension and Content-Type are only
 * claims: a file that claims an image, video, audio or PDF must sniff as one; markup with script is
 * refused whatever it claims; executables are refused.
 */
export async function sniffType(
  head: Uint8Array,
  name: string,
  declared: string | undefined,
): Promise<string> {
  const ext = extensionOf(name);
  if (REFUSED_EXTENSIONS.has(ext))
    throw new SniffError('TYPE_REFUSED', `files of type .${ext} are not shared`);
  const found = await fileTypeFromBuffer(head);
  let type: string;
  if (found) type = found.mime;
  else type = textType(head);
  if (REFUSED.has(type)) throw new SniffError('TYPE_REFUSED', `executables (${type}) are not shared`);
  if ((type === 'text/html' || type === 'image/svg+xml' || type === 'text/xml') && hasScript(head))
    throw new SniffError('ACTIVE_CONTENT', `the file is ${type} with script in it, which is not shared`);
  const claims = [MEDIA_EXTENSIONS[ext], mediaClaim(declared)].filter((c): c is string => !!c);
  for (const claim of claims) {
    if (!sameMedia(claim, type))
      throw new SniffError('TYPE_MISMATCH', `the file claims to be ${claim} but its content is ${type}`);
  }
  return type;
}

function mediaClaim(declared: string | undefined): string | undefined {
  const t = declared?.split(';')[0]?.trim().toLowerCase();
  if (!t) return undefined;
  return /^(image|video|audio)\//.test(t) || t === 'application/pdf' ? t : undefined;
}

// A claim is met when the content is of the same top-level kind (a .jpg that is really a PNG is still
// an image), except that nothing claiming to be an image may be SVG unless it says SVG.
function sameMedia(claim: string, actual: string): boolean {
  if (claim === actual) return true;
  if (actual === 'image/svg+xml') return false;
  const [ck] = claim.split('/');
  const [ak] = actual.split('/');
  if (ck === 'application') return false;
  if (ck === 'video' || ck === 'audio') return ak === 'video' || ak === 'audio';
  return ck === ak;
}

function textType(head: Uint8Array): string {
  if (head.includes(0)) return 'application/octet-stream';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(trimPartialUtf8(head));
  } catch {
    return 'application/octet-stream';
  }
  const lead = text
    .replace(/^\ufeff/, '')
    .trimStart()
    .slice(0, 2048)
    .toLowerCase();
  if (lead.includes('<svg')) return 'image/svg+xml';
  if (/^<!doctype html|^<html|<(script|body|head|iframe|meta|object|embed)[\s>/]/.test(lead))
    return 'text/html';
  if (lead.startsWith('<?xml')) return 'text/xml';
  return 'text/plain';
}

// The sniffed head may end inside a multi-byte character; drop that tail so UTF-8 decoding is fair.
function trimPartialUtf8(b: Uint8Array): Uint8Array {
  let end = b.length;
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const byte = b[end - i]!;
    if ((byte & 0xc0) === 0x80) continue;
    if (byte >= 0xc0) end = end - i;
    break;
  }
  return b.subarray(0, end);
}

function hasScript(head: Uint8Array): boolean {
  const text = new TextDecoder('utf-8').decode(head).toLowerCase();
  return /<script|javascript:|\son[a-z]+\s*=|<foreignobject|<iframe|<embed|<object/.test(text);
}
