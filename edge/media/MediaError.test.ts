import { errors } from 'mediasoup';
import { describe, expect, it } from 'vitest';
import { MediaError } from './MediaError';

describe('MediaError.from', () => {
  it('maps mediasoup codec errors to UNKNOWN_CODEC', () => {
    const e = MediaError.from(
      new errors.UnsupportedError('unsupported codec [mimeType:video/H265]'),
      'BAD_RTP_PARAMETERS',
      'produce',
    );
    expect(e.code).toBe('UNKNOWN_CODEC');
    expect(e.message).toMatch(/^produce: unsupported codec/);
    expect(e.cause).toBeInstanceOf(errors.UnsupportedError);
  });

  it('maps "no compatible media codecs" to CANNOT_CONSUME', () => {
    expect(
      MediaError.from(new errors.UnsupportedError('no compatible media codecs'), 'BAD_PARAMETERS', 'x').code,
    ).toBe('CANNOT_CONSUME');
  });

  it('maps validation TypeErrors to the operation fallback', () => {
    expect(
      MediaError.from(new TypeError('missing codec.payloadType'), 'BAD_RTP_PARAMETERS', 'produce').code,
    ).toBe('BAD_RTP_PARAMETERS');
  });

  it('maps a closed worker channel to WORKER_DIED and keeps MediaErrors as they are', () => {
    expect(MediaError.from(new errors.WorkerClosedError('Channel closed'), 'INTERNAL', 'x').code).toBe(
      'WORKER_DIED',
    );
    const own = new MediaError('ROOM_CLOSED', 'closed');
    expect(MediaError.from(own, 'INTERNAL', 'x')).toBe(own);
  });
});
