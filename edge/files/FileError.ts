/** A refusal the client is told about: an HTTP status, a stable code and a message a person can read. */
export type FileErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'BAD_NAME'
  | 'EMPTY'
  | 'TOO_LARGE'
  | 'QUOTA_EXCEEDED'
  | 'RATE_LIMITED'
  | 'TYPE_REFUSED'
  | 'TYPE_MISMATCH'
  | 'ACTIVE_CONTENT'
  | 'ABORTED'
  | 'NOT_FOUND'
  | 'RANGE_NOT_SATISFIABLE'
  | 'OFFSET_MISMATCH'
  | 'UNAVAILABLE';

const STATUS: Record<FileErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  BAD_NAME: 400,
  EMPTY: 400,
  TOO_LARGE: 413,
  QUOTA_EXCEEDED: 413,
  RATE_LIMITED: 429,
  TYPE_REFUSED: 415,
  TYPE_MISMATCH: 415,
  ACTIVE_CONTENT: 415,
  ABORTED: 400,
  NOT_FOUND: 404,
  RANGE_NOT_SATISFIABLE: 416,
  OFFSET_MISMATCH: 409,
  UNAVAILABLE: 503,
};

export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(
    readonly code: FileErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }
}
