import { errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { type Grants, isValidRoomName } from '../../proto/signaling/messages';
import type { KeySet } from './keys';

export type { Grants };

export const DEFAULT_GRANTS: Grants = {
  join: true,
  publish: true,
  subscribe: true,
  chat: true,
  files: true,
  admin: false,
};

export interface ParticipantClaims {
  room: string;
  identity: string;
  name: string;
  grants: Grants;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type TokenErrorCode = 'INVALID_TOKEN' | 'TOKEN_EXPIRED';

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const ISSUER = 'meetview';
const AUDIENCE = 'meetview:participant';

export interface MintOptions {
  room: string;
  identity: string;
  name: string;
  grants?: Partial<Grants>;
  ttlSeconds?: number;
}

/** Mints and verifies participant JWTs (HS256, `kid` header for rotation). */
export class TokenService {
  constructor(private readonly keys: KeySet) {}

  async mint(opts: MintOptions): Promise<{ token: string; expiresAt: number }> {
    if (!isValidRoomName(opts.room))
      throw new TokenError('INVALID_TOKEN', `invalid room name "${opts.room}"`);
    if (!opts.identity || opts.identity.length > 128)
      throw new TokenError('INVALID_TOKEN', 'invalid identity');
    const ttl = opts.ttlSeconds ?? 6 * 3600;
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + ttl;
    const key = this.keys.active;
    const token = await new SignJWT({
      room: opts.room,
      name: opts.name.slice(0, 64) || opts.identity,
      grants: { ...DEFAULT_GRANTS, ...opts.grants },
    })
      .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(opts.identity)
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(key.secret);
    return { token, expiresAt };
  }

  async verify(token: string | undefined | null): Promise<ParticipantClaims> {
    if (!token) throw new TokenError('INVALID_TOKEN', 'no token: connect with ?token=<JWT>');
    const payload = await verifySigned(this.keys, token, AUDIENCE, 'token');
    const room = payload.room;
    const identity = payload.sub;
    if (typeof room !== 'string' || !isValidRoomName(room) || typeof identity !== 'string' || !identity) {
      throw new TokenError('INVALID_TOKEN', 'token lacks a valid room or identity');
    }
    const g = (payload.grants ?? {}) as Partial<Grants>;
    const grants: Grants = {
      join: g.join === true,
      publish: g.publish === true,
      subscribe: g.subscribe === true,
      chat: g.chat === true,
      files: g.files === true,
      admin: g.admin === true,
    };
    return {
      room,
      identity,
      name: typeof payload.name === 'string' && payload.name ? payload.name : identity,
      grants,
      expiresAt: payload.exp ?? 0,
    };
  }
}

/**
 * Verifies a Meetview JWT (HS256, issuer "meetview", the given audience) against the deployment keys,
 * picked by the token's `kid`. Every failure is a TokenError; `what` names the token in its message.
 */
export async function verifySigned(
  keys: KeySet,
  token: string,
  audience: string,
  what: string,
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = header.kid ? keys.get(header.kid) : undefined;
        if (!key) throw new TokenError('INVALID_TOKEN', `unknown signing key id "${header.kid ?? ''}"`);
        return key.secret;
      },
      { issuer: ISSUER, audience, algorithms: ['HS256'] },
    );
    return payload;
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenError('TOKEN_EXPIRED', `the ${what} has expired`);
    throw new TokenError('INVALID_TOKEN', `the ${what} does not verify: ${(err as Error).message}`);
  }
}
