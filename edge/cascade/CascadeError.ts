import { type ServiceError, status } from '@grpc/grpc-js';
import { MediaError } from '../media/MediaError';

/**
 * The one error type of the cascade: a gRPC status code and a message. The server answers with it;
 * the client turns every failed call into one (so callers test `code`, e.g. status.NOT_FOUND).
 */
export class CascadeError extends Error {
  override readonly name = 'CascadeError';
  readonly code: status;

  constructor(code: status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** What a handler answers for whatever it caught. */
  static from(error: unknown): CascadeError {
    if (error instanceof CascadeError) return error;
    if (error instanceof MediaError) {
      switch (error.code) {
        case 'PRODUCER_NOT_FOUND':
        case 'TRANSPORT_NOT_FOUND':
        case 'CONSUMER_NOT_FOUND':
        case 'ROOM_CLOSED':
          return new CascadeError(status.NOT_FOUND, error.message, { cause: error });
        case 'BAD_PARAMETERS':
        case 'BAD_RTP_PARAMETERS':
        case 'BAD_RTP_CAPABILITIES':
        case 'UNKNOWN_CODEC':
        case 'CANNOT_CONSUME':
          return new CascadeError(status.INVALID_ARGUMENT, error.message, { cause: error });
        case 'WORKER_DIED':
        case 'NO_WORKER':
        case 'POOL_CLOSED':
          return new CascadeError(status.UNAVAILABLE, error.message, { cause: error });
        default:
          return new CascadeError(status.INTERNAL, error.message, { cause: error });
      }
    }
    const message = error instanceof Error ? error.message : String(error);
    return new CascadeError(status.INTERNAL, message, { cause: error });
  }

  /** A failed client call, with the peer named so that logs say which edge refused. */
  static fromServiceError(error: ServiceError, what: string, peer: string): CascadeError {
    return new CascadeError(
      error.code ?? status.UNKNOWN,
      `${what} on ${peer}: ${error.details || error.message}`,
      {
        cause: error,
      },
    );
  }
}
