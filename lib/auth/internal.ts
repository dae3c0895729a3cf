import { SignJWT } from 'jose';
import type { KeySet } from './keys';
import { ISSUER, TokenError, verifySigned } from './tokens';

/** A different audience from participant tokens, so a participant's JWT never opens an internal API. */
const AUDIENCE = 'meetview:internal';

export interface InternalClaims {
  /** Who calls: an edge's node id, or "core". */
  subject: string;
}

/**
 * Short-lived tokens for calls between Meetview's own services (edge ⇄ edge cascade, core → edge control,
 * edge → edge file fetch). Signed with the deployment keys (same rotation as participant tokens).
 */
export class InternalTokens {
  readonly #keys: KeySet;
  #cached: { subject: string; token: string; renewAt: number } | undefined;

  constructor(keys: KeySet) {
    this.#keys = keys;
  }

  async mint(subject: string, ttlSeconds = 120): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const key = this.#keys.active;
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(key.secret);
  }

  /** A token for `subject`, reused until half its lifetime has passed (callers make many calls). */
  async current(subject: string): Promise<string> {
    const now = Date.now();
    if (this.#cached && this.#cached.subject === subject && now < this.#cached.renewAt) {
      return this.#cached.token;
    }
    const ttl = 120;
    const token = await this.mint(subject, ttl);
    this.#cached = { subject, token, renewAt: now + (ttl * 1000) / 2 };
    return token;
  }

  async verify(token: string | undefined | null): Promise<InternalClaims> {
    if (!token) throw new TokenError('INVALID_TOKEN', 'no internal token');
    const payload = await verifySigned(this.#keys, token, AUDIENCE, 'internal token');
    if (typeof payload.sub !== 'string' || !payload.sub) {
      throw new TokenError('INVALID_TOKEN', 'internal token has no subject');
    }
    return { subject: payload.sub };
  }
}
