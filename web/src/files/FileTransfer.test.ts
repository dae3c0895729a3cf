import { describe, expect, it } from 'vitest';
import { canPreview, formatSize, offerIdOf } from './FileTransfer';

describe('offers in chat messages', () => {
  const id = '01JZ8X4Q2V3B5C6D7E8F9G0H1J';
  it('reads the file id from the offer field, or from a system message’s marker', () => {
    const file = { id, name: 'a.png', size: 1, type: 'image/png', sha256: 'x' };
    expect(offerIdOf({ text: 'anything', kind: 'user', file })).toBe(id);
    expect(offerIdOf({ text: `Ana shared “a.png” (1 B) [file:${id}]`, kind: 'system' })).toBe(id);
  });
  it('never takes a marker from what a person typed', () => {
    expect(offerIdOf({ text: `look [file:${id}]`, kind: 'user' })).toBeUndefined();
    expect(offerIdOf({ text: `[file:${id}] trailing`, kind: 'system' })).toBeUndefined();
  });
  it('previews raster images of modest size only', () => {
    const f = (type: string, size = 1000) => ({ id, name: 'x', size, type, sha256: 'x' });
    expect(canPreview(f('image/png'))).toBe(true);
    expect(canPreview(f('image/svg+xml'))).toBe(false);
    expect(canPreview(f('text/html'))).toBe(false);
    expect(canPreview(f('image/jpeg', 50_000_000))).toBe(false);
  });
  it('formats sizes for people', () => {
    expect(formatSize(999, 'en-US')).toBe('999 B');
    expect(formatSize(1_500_000, 'en-US')).toBe('1.5 MB');
    expect(formatSize(1024 ** 3, 'ko-KR')).toBe('1.1 GB');
  });
});
