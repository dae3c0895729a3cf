import { describe, expect, it } from 'vitest';
import type { ChatMessageInfo, RequestData, ResponseData } from '../../../proto/signaling/messages';
import { ChatStore } from './ChatStore';

const msg = (seq: number, from = 'bob', extra: Partial<ChatMessageInfo> = {}): ChatMessageInfo => ({
  messageId: `m${seq}`,
  room: 'r',
  from: { identity: from, name: from.toUpperCase() },
  text: `text ${seq}`,
  ts: 1_000 + seq,
  seq,
  kind: 'user',
  ...extra,
});

class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A sender whose answers the test decides, one by one. */
function scriptedSender() {
  const calls: {
    data: RequestData<'chat.send'>;
    resolve: (r: ResponseData['chat.send']) => void;
    reject: (e: Error) => void;
  }[] = [];
  const send = (data: RequestData<'chat.send'>) =>
    new Promise<ResponseData['chat.send']>((resolve, reject) => calls.push({ data, resolve, reject }));
  return { calls, send };
}

let n = 0;
const ids = () => `cid-${++n}`;

describe('ChatStore', () => {
  it('keeps the file a system message offers', () => {
    const store = new ChatStore(scriptedSender().send, ids);
    store.setSelf('ann', 'Ann');
    const file = {
      id: '01JABCDEFGHJKMNPQRSTVWXYZ0',
      name: 'a.png',
      size: 3,
      type: 'image/png',
      sha256: 'f'.repeat(64),
    };
    store.receive(msg(1, 'bob', { kind: 'system', file }));
    store.receive(msg(2));
    expect(store.messages.map((e) => e.file)).toEqual([file, undefined]);
  });

  it('keeps messages in log order and drops repeats, whatever order they arrive in', () => {
    const store = new ChatStore(scriptedSender().send, ids);
    store.applyJoin([msg(3), msg(1), msg(2)]);
    store.receive(msg(5));
    store.receive(msg(4));
    store.receive(msg(2));
    store.receive(msg(5));
    expect(store.messages.map((m) => m.messageId)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('resumes after the last message of the log it has, even when a late one arrived out of order', () => {
    const store = new ChatStore(scriptedSender().send, ids);
    expect(store.lastMessageId).toBeUndefined();
    store.applyJoin([msg(1), msg(2)]);
    expect(store.lastMessageId).toBe('m2');
    store.receive(msg(4));
    store.receive(msg(3));
    expect(store.lastMessageId).toBe('m4');
    // The join after a reconnect answers what followed m4; a repeat of m4 there changes nothing.
    store.setOffline();
    store.applyJoin([msg(4), msg(5), msg(6)]);
    expect(store.lastMessageId).toBe('m6');
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('shows our message as pending until acked, then as sent; the log copy replaces it without a repeat', async () => {
    const { calls, send } = scriptedSender();
    const store = new ChatStore(send, ids);
    store.setSelf('me', 'Me');
    store.applyJoin([msg(1)]);
    const done = store.send('hello');
    expect(store.messages.at(-1)).toMatchObject({
      state: 'pending',
      own: true,
      text: 'hello',
      messageId: null,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.data.clientMessageId).toMatch(/^cid-/);
    calls[0]!.resolve({ messageId: 'm2', ts: 5 });
    await done;
    expect(store.messages.at(-1)).toMatchObject({ state: 'sent', messageId: 'm2' });
    store.receive(msg(2, 'me', { text: 'hello' }));
    expect(store.messages.map((m) => [m.messageId, m.own])).toEqual([
      ['m1', false],
      ['m2', true],
    ]);
  });

  it('takes the log copy that arrives before the ack, and the ack adds nothing', async () => {
    const { calls, send } = scriptedSender();
    const store = new ChatStore(send, ids);
    store.setSelf('me', 'Me');
    store.applyJoin([]);
    const done = store.send('hi');
    store.receive(msg(7, 'me', { text: 'hi' }));
    calls[0]!.resolve({ messageId: 'm7', ts: 7 });
    await done;
    expect(store.messages).toHaveLength(1);
    expect(store.messages[0]).toMatchObject({ messageId: 'm7', seq: 7, own: true, state: 'sent' });
  });

  it('retries a send lost with the socket after the next join, with the same client message id', async () => {
    const { calls, send } = scriptedSender();
    const store = new ChatStore(send, ids);
    store.setSelf('me', 'Me');
    store.applyJoin([]);
    const first = store.send('survive');
    calls[0]!.reject(new RequestError('DISCONNECTED', 'socket closed'));
    await first;
    store.setOffline();
    expect(store.messages[0]!.state).toBe('pending');
    const queued = store.send('typed while offline');
    await queued;
    expect(calls).toHaveLength(1); // nothing goes out while offline
    store.applyJoin([]);
    expect(calls.map((c) => c.data.text)).toEqual(['survive', 'survive', 'typed while offline']);
    expect(calls[1]!.data.clientMessageId).toBe(calls[0]!.data.clientMessageId);
  });

  it('a refused send leaves the list and is reported with the server code', async () => {
    const { calls, send } = scriptedSender();
    const store = new ChatStore(send, ids);
    store.applyJoin([]);
    const refused: string[] = [];
    store.on('refused', (e) => refused.push(`${e.code}|${e.text}`));
    const done = store.send('x'.repeat(10));
    calls[0]!.reject(new RequestError('RATE_LIMITED', 'slow down'));
    await done;
    expect(refused).toEqual([`RATE_LIMITED|${'x'.repeat(10)}`]);
    expect(store.messages).toHaveLength(0);
    await store.send('   ');
    expect(calls).toHaveLength(1); // blank text is not sent
  });

  it('counts others’ live messages as unread while hidden; history, own and system lines do not count', () => {
    const store = new ChatStore(scriptedSender().send, ids);
    store.setSelf('me', 'Me');
    store.applyJoin([msg(1), msg(2)]);
    expect(store.unread).toBe(0);
    store.receive(msg(3));
    store.receive(msg(3));
    store.receive(msg(4, 'me'));
    store.receive(msg(5, 'bob', { kind: 'system', text: 'joined' }));
    expect(store.unread).toBe(1);
    // What was said during a reconnect is news too.
    store.applyJoin([msg(6)]);
    expect(store.unread).toBe(2);
    store.setVisible(true);
    expect(store.unread).toBe(0);
    store.receive(msg(7));
    expect(store.unread).toBe(0);
  });
});
