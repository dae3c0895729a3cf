/**
 * Error codes of the signaling API. Stable: clients switch on them; the message is for people.
 */
export const ErrorCode = {
  /** The frame is not JSON, or does not match the method's schema. */
  BadRequest: 'BAD_REQUEST',
  /** The frame is larger than the server accepts. */
  TooLarge: 'TOO_LARGE',
  /** Too many messages in too short a time; slow down and retry. */
  RateLimited: 'RATE_LIMITED',
  UnknownMethod: 'UNKNOWN_METHOD',
  /** The token is missing, malformed or its signature does not verify. */
  InvalidToken: 'INVALID_TOKEN',
  TokenExpired: 'TOKEN_EXPIRED',
  /** The token is for another room than the one asked for. */
  WrongRoom: 'WRONG_ROOM',
  /** The token lacks the grant this action needs (publish, subscribe, chat, files). */
  Forbidden: 'FORBIDDEN',
  /** A request other than join before join. */
  NotJoined: 'NOT_JOINED',
  NotFound: 'NOT_FOUND',
  /** The participant was removed, the room closed, or the same identity joined elsewhere. */
  Closed: 'CLOSED',
  /** A dependency (Redis, Kafka, the SFU) is not available right now; retry. */
  Unavailable: 'UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error that travels to the client as `{ id, ok: false, error: { code, message } }`. */
export class SignalingError extends Error {
  override readonly name = 'SignalingError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** WebSocket close codes the edge uses (4000–4999 are the application's). */
export const CloseCode = {
  /** Token refused before the session started; see the `session.refused` notification before it. */
  Refused: 4401,
  /** Removed by an operator or the room closed. */
  Removed: 4403,
  /** The room lives on another edge; see the `session.redirect` notification before it. */
  Redirect: 4302,
  /** The same identity connected again; this older socket is replaced. */
  Replaced: 4409,
  /** The participant left. */
  Left: 4000,
} as const;
