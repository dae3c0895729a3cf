import { describe, expect, it } from 'vitest';
import type { SignalingError } from '../../proto/signaling/errors';
import { checkChatText } from './chatText';

const codeOf = (t: string) => {
  try {
    checkChatText(t);
    return 'ok';
  } catch (e) {
    return (e as SignalingError).code;
  }
};

describe('checkChatText', () => {
  it('accepts text in any language, emoji and newlines', () => {
    expect(codeOf('안녕하세요 👋\nsecond line\tok')).toBe('ok');
  });
  it('refuses empty, oversized, binary-ish and malformed text with a typed code', () => {
    expect(codeOf('   ')).toBe('BAD_REQUEST');
    expect(codeOf('a'.repeat(4001))).toBe('TOO_LARGE');
    expect(codeOf('nul\u0000byte')).toBe('BAD_REQUEST');
    expect(codeOf('\uD800 lone surrogate')).toBe('BAD_REQUEST');
  });
});
