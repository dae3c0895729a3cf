import { describe, expect, it } from 'vitest';
import { parseRoute, previewToken, roomPath, tabIdentity } from './route';

describe('route', () => {
  it('reads the room from /r/<room> and the token from the query', () => {
    expect(parseRoute('/', '')).toEqual({ room: null, token: null });
    expect(parseRoute('/r/team-sync', '?token=abc')).toEqual({ room: 'team-sync', token: 'abc' });
    expect(parseRoute('/r/a%2Eb/', '')).toEqual({ room: 'a.b', token: null });
    expect(parseRoute('/r/', '')).toEqual({ room: null, token: null });
    expect(parseRoute('/other', '?token=')).toEqual({ room: null, token: null });
  });

  it('roomPath encodes the name', () => {
    expect(roomPath('a b')).toBe('/r/a%20b');
  });

  it('previews a JWT payload (UTF-8 names) and rejects non-JWTs', () => {
    const payload = { room: 'r1', name: '김지민', sub: 'u1', exp: 123 };
    const b64 = Buffer.from(JSON.stringify(payload)).toString('base64url');
    expect(previewToken(`x.${b64}.y`)).toEqual({
      room: 'r1',
      name: '김지민',
      identity: 'u1',
      expiresAt: 123,
    });
    expect(previewToken('garbage')).toBeNull();
    expect(previewToken('a.%%%.b')).toBeNull();
  });

  it('keeps one identity per tab', () => {
    const store = new Map<string, string>();
    const s = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => store.set(k, v),
    };
    const a = tabIdentity(s);
    expect(a).toMatch(/^u-[0-9a-f]{18}$/);
    expect(tabIdentity(s)).toBe(a);
    expect(tabIdentity(null)).not.toBe(a);
  });
});
