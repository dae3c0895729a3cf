import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../media/MediaError';
import { CascadeError } from './CascadeError';

describe('CascadeError', () => {
  it('maps media errors onto gRPC status codes', () => {
    const code = (e: MediaError) => CascadeError.from(e).code;
    expect(code(new MediaError('PRODUCER_NOT_FOUND', 'no producer p'))).toBe(status.NOT_FOUND);
    expect(code(new MediaError('ROOM_CLOSED', 'closed'))).toBe(status.NOT_FOUND);
    expect(code(new MediaError('BAD_PARAMETERS', 'bad'))).toBe(status.INVALID_ARGUMENT);
    expect(code(new MediaError('BAD_RTP_PARAMETERS', 'bad'))).toBe(status.INVALID_ARGUMENT);
    expect(code(new MediaError('WORKER_DIED', 'gone'))).toBe(status.UNAVAILABLE);
    expect(code(new MediaError('INTERNAL', 'oops'))).toBe(status.INTERNAL);
    expect(CascadeError.from(new MediaError('PRODUCER_NOT_FOUND', 'no producer p')).message).toBe(
      'no producer p',
    );
  });

  it('keeps a CascadeError as it is and turns anything else into INTERNAL', () => {
    const e = new CascadeError(status.ALREADY_EXISTS, 'pipe open');
    expect(CascadeError.from(e)).toBe(e);
    expect(CascadeError.from(new Error('boom'))).toMatchObject({ code: status.INTERNAL, message: 'boom' });
    expect(CascadeError.from('text')).toMatchObject({ code: status.INTERNAL, message: 'text' });
  });

  it('names the peer and the call in a failed client call', () => {
    const err = Object.assign(new Error('14 UNAVAILABLE: connect failed'), {
      code: status.UNAVAILABLE,
      details: 'connect failed',
      metadata: undefined,
    });
    const e = CascadeError.fromServiceError(err as never, 'openPipe', 'A-edge-1');
    expect(e).toMatchObject({ code: status.UNAVAILABLE, message: 'openPipe on A-edge-1: connect failed' });
  });
});
