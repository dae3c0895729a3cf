import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeySet } from './keys';
import { TokenError, TokenService } from './tokens';

const secret = 'a'.repeat(40);
const keys = KeySet.parse(`k2:${'b'.repeat(40)},k1:${secret}`);
const tokens = new TokenService(keys);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof TokenError ? err.code : `other: ${(err as Error).message}`;
  }
}

describe('TokenService', () => {
  it('mints with the active key and verifies room, identity, name and grants', async () => {
    const { token } = await tokens.mint({
      room: 'standup',
      identity: 'kim',
      name: '김민준',
      grants: { publish: false },
    });
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid).toBe('k2');
    const claims = await tokens.verify(token);
    expect(claims).toMatchObject({ room: 'standup', identity: 'kim', name: '김민준' });
    expect(claims.grants).toEqual({
      join: true,
      publish: false,
      subscribe: true,
      chat: true,
      files: true,
      admin: false,
    });
  });

  it('verifies a token signed with an older key that is still listed (rotation)', async () => {
    const old = new TokenService(KeySet.parse(`k1:${secret}`));
    const { token } = await old.mint({ room: 'r', identity: 'a', name: 'A' });
    expect(await code(tokens.verify(token))).toBe('ok');
  });

  it('refuses a missing, malformed, tampered, unknown-key or expired token with a typed code', async () => {
    const { token } = await tokens.mint({ room: 'r', identity: 'a', name: 'A' });
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ room: 'r', sub: 'admin' })).toString('base64url')}.${s}`;
    expect(await code(tokens.verify(undefined))).toBe('INVALID_TOKEN');
    expect(await code(tokens.verify('not-a-jwt'))).toBe('INVALID_TOKEN');
    expect(await code(tokens.verify(forged))).toBe('INVALID_TOKEN');
    const stranger = new TokenService(KeySet.parse(`k9:${'z'.repeat(40)}`));
    expect(
      await code(tokens.verify((await stranger.mint({ room: 'r', identity: 'a', name: 'A' })).token)),
    ).toBe('INVALID_TOKEN');
    expect(
      await code(
        tokens.verify((await tokens.mint({ room: 'r', identity: 'a', name: 'A', ttlSeconds: -10 })).token),
      ),
    ).toBe('TOKEN_EXPIRED');
  });

  it('refuses alg=none and tokens without a room', async () => {
    const none = `${Buffer.from('{"alg":"none","kid":"k1"}').toString('base64url')}.${Buffer.from('{"room":"r","sub":"a"}').toString('base64url')}.`;
    expect(await code(tokens.verify(none))).toBe('INVALID_TOKEN');
    const noRoom = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer('meetview')
      .setAudience('meetview:participant')
      .setSubject('a')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    expect(await code(tokens.verify(noRoom))).toBe('INVALID_TOKEN');
  });

  it('rejects short keys and bad key specs', () => {
    expect(() => KeySet.parse('k:short')).toThrow(/32 bytes/);
    expect(() => KeySet.parse('nocolon')).toThrow(/kid/);
  });
});
