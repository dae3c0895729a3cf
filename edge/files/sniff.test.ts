import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SniffError, sniffType } from './sniff';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

async function refusal(head: Uint8Array, name: string, declared?: string): Promise<string> {
  try {
    const type = await sniffType(head, name, declared);
    return `accepted as ${type}`;
  } catch (err) {
    if (err instanceof SniffError) return err.code;
    throw err;
  }
}

describe('sniffType', () => {
  it('refuses executables by content whatever the name says, and by extension', async () => {
    // Any upload that begins with "MZ" is a Windows executable to the sniffer, random or not.
    const mz = Buffer.concat([Buffer.from('MZ'), randomBytes(4000)]);
    expect(await refusal(mz, 'notes.bin')).toBe('TYPE_REFUSED');
    const elf = Buffer.concat([Buffer.from('7f454c46020101', 'hex'), Buffer.alloc(4000)]);
    expect(await refusal(elf, 'photo.png')).toBe('TYPE_REFUSED');
    expect(await refusal(Buffer.from('hello'), 'run.EXE')).toBe('TYPE_REFUSED');
  });

  it('accepts opaque bytes as octet-stream and text as text', async () => {
    const opaque = randomBytes(4000);
    opaque[0] = 0;
    expect(await sniffType(opaque, 'blob.bin', undefined)).toBe('application/octet-stream');
    expect(await sniffType(Buffer.from('회의록 — minutes\n'), 'minutes.txt', 'text/plain')).toBe(
      'text/plain',
    );
    // A head cut inside a multi-byte character is still text.
    const cut = Buffer.from('가나다').subarray(0, 8);
    expect(await sniffType(cut, 'cut.txt', undefined)).toBe('text/plain');
  });

  it('holds an image, video or PDF claim to the content', async () => {
    expect(await sniffType(PNG, 'photo.jpg', 'image/jpeg')).toBe('image/png');
    expect(await refusal(Buffer.from('just text'), 'photo.png')).toBe('TYPE_MISMATCH');
    expect(await refusal(Buffer.from('just text'), 'notes', 'application/pdf')).toBe('TYPE_MISMATCH');
    expect(await refusal(PNG, 'clip.mp4')).toBe('TYPE_MISMATCH');
    // SVG is a document: it never passes as a plain image claim.
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    expect(await refusal(svg, 'logo.png')).toBe('TYPE_MISMATCH');
    expect(await sniffType(svg, 'logo.svg', undefined)).toBe('image/svg+xml');
  });

  it('refuses markup with script, whatever it claims', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>');
    expect(await refusal(svg, 'logo.svg')).toBe('ACTIVE_CONTENT');
    expect(await refusal(Buffer.from('<!doctype html><script>x()</script>'), 'page.txt')).toBe(
      'ACTIVE_CONTENT',
    );
    expect(await sniffType(Buffer.from('<!doctype html><p>hi</p>'), 'page.html', undefined)).toBe(
      'text/html',
    );
  });
});
