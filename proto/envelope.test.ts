import { describe, expect, it } from 'vitest';
import { ChatKind, Envelope } from './gen/meetview/events/v1/events';

describe('events envelope', () => {
  it('round-trips a chat message through the wire format', () => {
    const env: Envelope = {
      id: '01JDX0000000000000000000AA',
      room: 'standup',
      originRegion: 'seoul',
      originNode: 'seoul-edge-1',
      tsMs: 1_764_000_000_000,
      payload: {
        $case: 'chat',
        value: {
          from: { identity: 'kim', name: '김민준', region: 'seoul', node: 'seoul-edge-1' },
          text: '안녕하세요 👋',
          to: '',
          kind: ChatKind.CHAT_KIND_USER,
          clientMessageId: 'c-1',
          file: undefined,
        },
      },
    };
    const bytes = Envelope.encode(env).finish();
    expect(Envelope.decode(bytes)).toEqual(env);
  });

  it('rejects bytes that are not an envelope', () => {
    expect(() => Envelope.decode(Uint8Array.from([0x0a, 0xff, 0xff]))).toThrow();
  });
});
