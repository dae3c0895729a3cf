import { describe, expect, it } from 'vitest';
import { linkify } from './ChatPanel';

describe('linkify', () => {
  it('links http and https URLs and keeps the rest as text', () => {
    expect(linkify('see https://example.com/a?b=1 and http://x.org.')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'http://x.org', href: 'http://x.org/' },
      { kind: 'text', text: '.' },
    ]);
  });

  it('never links other schemes', () => {
    for (const text of [
      'javascript:alert(1)',
      'JavaScript:alert(document.cookie)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox',
      'www.example.com',
      'ftp://example.com/file',
    ]) {
      expect(linkify(text), text).toEqual([{ kind: 'text', text }]);
    }
  });

  it('keeps markup as text, and a URL cannot carry markup into its href', () => {
    const text = '<script>alert(1)</script> <img src=x onerror=alert(1)> https://a.com/"><b>x</b>';
    const parts = linkify(text);
    expect(parts.map((p) => p.text).join('')).toBe(text);
    const links = parts.filter((p) => p.kind === 'link');
    expect(links).toEqual([{ kind: 'link', text: 'https://a.com/', href: 'https://a.com/' }]);
  });

  it('leaves sentence punctuation out of a link but keeps balanced parentheses', () => {
    expect(linkify('(https://en.wikipedia.org/wiki/Foo_(bar)), ok')).toEqual([
      { kind: 'text', text: '(' },
      {
        kind: 'link',
        text: 'https://en.wikipedia.org/wiki/Foo_(bar)',
        href: 'https://en.wikipedia.org/wiki/Foo_(bar)',
      },
      { kind: 'text', text: '), ok' },
    ]);
  });

  it('an http URL with no host is text', () => {
    expect(linkify('http://')).toEqual([{ kind: 'text', text: 'http://' }]);
  });
});
