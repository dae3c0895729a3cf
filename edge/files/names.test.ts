import { describe, expect, it } from 'vitest';
import { parseRange } from '../http/routes/files';
import { cleanFileName, contentDisposition } from './names';
import { sniffType } from './sniff';

describe('cleanFileName', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\x', 'x'],
    ['/abs/path/report.pdf', 'report.pdf'],
    ['C:\\Users\\me\\notes.txt', 'notes.txt'],
    ['회의록 2026.docx', '회의록 2026.docx'],
    ['  .hidden.txt  ', 'hidden.txt'],
    ['a\u0007b\u200bc.txt', 'abc.txt'],
    ['what?.txt', 'what_.txt'],
  ])('%j → %j', (raw, clean) => {
    expect(cleanFileName(raw)).toBe(clean);
  });

  it.each(['a\u0000.txt', 'exe.\u202egpj', 'x\u2067y.png', '', '../..', '///'])('refuses %j', (raw) => {
    expect(() => cleanFileName(raw)).toThrow();
  });

  it('keeps Korean in filename* (RFC 5987) with an ASCII fallback', () => {
    expect(contentDisposition('attachment', '회의록.txt')).toBe(
      `attachment; filename="___.txt"; filename*=UTF-8''%ED%9A%8C%EC%9D%98%EB%A1%9D.txt`,
    );
  });
});

describe('sniffType', () => {
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
  it('believes the content, not the name', async () => {
    expect(await sniffType(png, 'photo.jpg', 'image/jpeg')).toBe('image/png');
    expect(await sniffType(Buffer.from('hello'), 'a.txt', 'text/plain')).toBe('text/plain');
  });
  it('refuses markup with script presented as an image', async () => {
    await expect(
      sniffType(Buffer.from('<svg onload="alert(1)"></svg>'), 'cat.png', 'image/png'),
    ).rejects.toThrow(/script/);
    await expect(
      sniffType(Buffer.from('<html><body>hi</body></html>'), 'cat.png', 'image/png'),
    ).rejects.toThrow(/claims/);
  });
  it('refuses executables', async () => {
    await expect(
      sniffType(Buffer.from('7f454c46020101000000000000000000', 'hex'), 'x.bin', undefined),
    ).rejects.toThrow(/executables/);
  });
});

describe('parseRange', () => {
  it('reads the forms of one range', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(() => parseRange('bytes=100-', 100)).toThrow(/outside/);
  });
});
