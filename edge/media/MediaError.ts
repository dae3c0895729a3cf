import { errors as mediasoupErrors } from 'mediasoup';

export type MediaErrorCode =
  | 'BAD_PARAMETERS'
  | 'UNKNOWN_CODEC'
  | 'BAD_RTP_PARAMETERS'
  | 'BAD_RTP_CAPABILITIES'
  | 'CANNOT_CONSUME'
  | 'TRANSPORT_NOT_FOUND'
  | 'PRODUCER_NOT_FOUND'
  | 'CONSUMER_NOT_FOUND'
  | 'ROOM_CLOSED'
  | 'ROOM_EXISTS'
  | 'POOL_CLOSED'
  | 'NO_WORKER'
  | 'WORKER_DIED'
  | 'INTERNAL';

/**
 * The one error type the media core throws. The signaling layer can map `code` straight onto its
 * `{error: {code, message}}` responses; `cause` keeps the original mediasoup error for logs.
 */
export class MediaError extends Error {
  override readonly name = 'MediaError';
  readonly code: MediaErrorCode;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /**
   * Translates whatever mediasoup threw into a MediaError. `fallback` is the code for a validation
   * failure in the current operation (e.g. BAD_RTP_PARAMETERS inside produce()).
   */
  static from(error: unknown, fallback: MediaErrorCode, what: string): MediaError {
    if (error instanceof MediaError) return error;
    const message = error instanceof Error ? error.message : String(error);
    const full = `${what}: ${message}`;
    if (error instanceof mediasoupErrors.UnsupportedError) {
      // mediasoup's ortc says "unsupported codec" / "media codec not supported" / "no compatible media codecs".
      if (/codec/i.test(message) && !/compatible/i.test(message))
        return new MediaError('UNKNOWN_CODEC', full, { cause: error });
      if (/compatible/i.test(message)) return new MediaError('CANNOT_CONSUME', full, { cause: error });
      return new MediaError(fallback, full, { cause: error });
    }
    if (error instanceof mediasoupErrors.WorkerClosedError)
      return new MediaError('WORKER_DIED', full, { cause: error });
    if (error instanceof Error && error.name === 'InvalidStateError')
      return new MediaError('ROOM_CLOSED', full, { cause: error });
    if (error instanceof TypeError) return new MediaError(fallback, full, { cause: error });
    // Errors the worker answered with (e.g. "ssrc already exists") are rejections of the parameters.
    return new MediaError(fallback, full, { cause: error });
  }
}
