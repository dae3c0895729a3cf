import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ADMIN_AUDIENCE, ApiKeys, AuthError, signApiToken } from './ApiKeys';

const SECRET = 'x'.repeat(40);
const keys = ApiKeys.parse(`ops:${SECRET}:admin,view:${'y'.repeat(40)}:read`);

describe('ApiKeys', () => {
  it('parses key:secret:scope and refuses bad entries', () => {
    expect(() => ApiKeys.parse('ops:short:admin')).toThrow(/shorter/);
    expect(() => ApiKeys.parse(`ops:${SECRET}:root`)).toThrow(/scope/);
    expect(() => ApiKeys.parse('nonsense')).toThrow(/must look like/);
  });

  it('accepts a token signed with the secret and tells its scope', async () => {
    expect(await keys.verify(`Bearer ${await signApiToken('ops', SECRET)}`)).toEqual({
      key: 'ops',
      scope: 'admin',
    });
  });

  it('refuses no token, a wrong secret, an unknown key, a long-lived token, and never echoes the secret', async () => {
    const refused = async (header: string | undefined) =>
      keys.verify(header).then(
        () => 'accepted',
        (e: Error) => {
          expect(e).toBeInstanceOf(AuthError);
          expect(e.message).not.toContain(SECRET);
          return e.message;
        },
      );
    expect(await refused(undefined)).toMatch(/no credentials/);
    expect(await refused(`Bearer ${await signApiToken('view', SECRET)}`)).toMatch(/signature/);
    expect(await refused(`Bearer ${await signApiToken('who', SECRET)}`)).toMatch(/unknown API key/);
    expect(await refused(`Bearer ${await signApiToken('ops', SECRET, 3600)}`)).toMatch(/longer/);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'ops' })
      .setAudience(ADMIN_AUDIENCE)
      .setIssuedAt(now - 200)
      .setExpirationTime(now - 100)
      .sign(new TextEncoder().encode(SECRET));
    expect(await refused(`Bearer ${expired}`)).toMatch(/expired/);
  });
});
