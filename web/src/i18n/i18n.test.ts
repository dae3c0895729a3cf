import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../proto/signaling/errors';
import { ClientErrorCode } from '../protocol/SignalingClient';
import { en } from './en';
import { detectLang, format, LANGS } from './index';
import { ko } from './ko';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('i18n', () => {
  it('every key exists in both languages, with a non-empty text', () => {
    expect(Object.keys(ko).sort()).toEqual(Object.keys(en).sort());
    for (const [lang, table] of Object.entries(LANGS)) {
      for (const [key, text] of Object.entries(table)) expect(text.trim(), `${lang} ${key}`).not.toBe('');
    }
  });

  it('translations keep the placeholders of the English text', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(ko[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('the Korean table is really translated (not a copy of English)', () => {
    const same = (Object.keys(en) as (keyof typeof en)[]).filter((k) => en[k] === ko[k]);
    expect(same).toEqual(['app.name']);
  });

  it('every signaling error code has a message', () => {
    for (const code of [...Object.values(ErrorCode), ...Object.values(ClientErrorCode)]) {
      if (
        code === 'UNKNOWN_METHOD' ||
        code === 'NOT_JOINED' ||
        code === 'TOO_LARGE' ||
        code === 'DISCONNECTED'
      )
        continue; // protocol bugs of the client itself, shown with the generic message
      expect(en, code).toHaveProperty(`error.${code}`);
    }
  });

  it('every key used in the UI code exists', () => {
    const dir = join(import.meta.dirname, '..');
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.ts$/.test(e.name) && !e.name.endsWith('.test.ts')) files.push(join(d, e.name));
      }
    };
    walk(dir);
    const used = new Set<string>();
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bt\(\s*'([\w.]+)'/g)) used.add(m[1]!);
      for (const m of src.matchAll(/data-i18n(?:-placeholder|-title)?="([\w.]+)"/g)) used.add(m[1]!);
      for (const m of src.matchAll(/i18n(?:Title|Placeholder)?:\s*'([\w.]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(10);
    for (const key of used) expect(en, `${key} used in web/src`).toHaveProperty([key]);
  });

  it('detectLang prefers the stored choice, then the browser languages', () => {
    expect(detectLang('ko', ['en-US'])).toBe('ko');
    expect(detectLang(null, ['ko-KR', 'en'])).toBe('ko');
    expect(detectLang(null, ['fr-FR', 'en-GB'])).toBe('en');
    expect(detectLang('xx', ['de'])).toBe('en');
  });

  it('format fills placeholders and leaves unknown ones visible', () => {
    expect(format('Hi {name}, {count}', { name: 'Ann', count: 3 })).toBe('Hi Ann, 3');
    expect(format('Hi {who}', { name: 'Ann' })).toBe('Hi {who}');
  });
});
