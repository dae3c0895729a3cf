import { describe, expect, it } from 'vitest';
import { InternalTokens } from './internal';
import { KeySet } from './keys';
import { TokenError, TokenService } from './tokens';

const keys = KeySet.parse(`k1:${'a'.repeat(40)}`);
const internal = new InternalTokens(keys);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof TokenError ? err.code : `other: ${(err as Error).message}`;
  }
}

describe('InternalTokens', () => {
  it('verifies its own tokens and names the caller', async () => {
    expect(await internal.verify(await internal.current('seoul-edge-1'))).toEqual({
      subject: 'seoul-edge-1',
    });
  });

  it('refuses participant tokens, other keys, expired and missing tokens', async () => {
    const participant = await new TokenService(keys).mint({ room: 'r', identity: 'kim', name: 'Kim' });
    expect(await code(internal.verify(participant.token))).toBe('INVALID_TOKEN');
    const other = new InternalTokens(KeySet.parse(`k1:${'b'.repeat(40)}`));
    expect(await code(internal.verify(await other.mint('x')))).toBe('INVALID_TOKEN');
    expect(await code(internal.verify(await internal.mint('x', -10)))).toBe('TOKEN_EXPIRED');
    expect(await code(internal.verify(undefined))).toBe('INVALID_TOKEN');
  });
});
