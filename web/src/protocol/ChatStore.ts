import type {
  ChatMessageInfo,
  FileOfferInfo,
  RequestData,
  ResponseData,
} from '../../../proto/signaling/messages';
import { Emitter } from './Emitter';

/** One line of the chat as the client shows it: a message from the log, or one of ours not yet acked. */
export interface ChatEntry {
  /** The server's id; null while our own message waits for its acknowledgement. */
  messageId: string | null;
  /** The id we sent it with (our own messages only): retried sends reuse it, so the server posts once. */
  clientMessageId: string | null;
  from: { identity: string; name: string };
  text: string;
  ts: number;
  to?: string;
  kind: 'user' | 'system';
  /** Position in the room's log; absent until the server's copy of our own message arrives. */
  seq?: number;
  /** 'pending' until the server says the message is durable. */
  state: 'pending' | 'sent';
  own: boolean;
  /** The shared file this (system) message offers. */
  file?: FileOfferInfo;
}

/** A send the server refused (TOO_LARGE, BAD_REQUEST, RATE_LIMITED, FORBIDDEN, …). */
export interface ChatSendError {
  code: string;
  message: string;
  /** The refused text, so the view can give it back to the user. */
  text: string;
}

export type ChatSender = (data: RequestData<'chat.send'>) => Promise<ResponseData['chat.send']>;

export type ChatStoreEvents = {
  /** The message list changed: views re-read `messages`. */
  changed: [];
  unread: [number];
  /** A send was refused for good; the message left the list. */
  refused: [ChatSendError];
};

/** Errors after which the request may not have reached the server: the send is retried with the same id. */
const TRANSIENT = new Set(['DISCONNECTED', 'TIMEOUT']);
const MAX_TIMEOUT_RETRIES = 3;
/** Enough scrollback for a meeting; older lines are dropped from memory (the server keeps the log). */
const MAX_ENTRIES = 2000;

interface Outgoing {
  entry: ChatEntry;
  timeouts: number;
  inFlight: boolean;
}

function newClientId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * The room's chat, in log order, without repeats. Fed by the join response (`chat`) and the
 * `chat.message` notifications; remembers the last message of the log it has, so that the join after a
 * reconnect asks for what follows it (no gap, no repeat). Sends carry a client message id so a send
 * retried after a lost socket is posted once. No DOM here.
 */
export class ChatStore extends Emitter<ChatStoreEvents> {
  readonly #send: ChatSender;
  readonly #newId: () => string;
  /** Messages with a server id, by that id. */
  readonly #byId = new Map<string, ChatEntry>();
  /** Our sends not yet acknowledged, in the order typed. */
  readonly #outgoing: Outgoing[] = [];
  /** Arrival order, to place messages that have no seq (our acked copy before the log's copy arrives). */
  readonly #arrival = new Map<ChatEntry, number>();
  #arrivals = 0;
  #sorted: ChatEntry[] | null = null;
  #self: string | null = null;
  #selfName = '';
  #joined = false;
  #lastId: string | undefined;
  #lastSeq = -1;
  #unread = 0;
  #visible = false;
  #online = false;
  #closed = false;

  constructor(send: ChatSender, newId: () => string = newClientId) {
    super();
    this.#send = send;
    this.#newId = newId;
  }

  /** The messages in log order, then our unacknowledged ones in the order typed. */
  get messages(): ChatEntry[] {
    if (!this.#sorted) {
      const confirmed = [...this.#byId.values()].sort((a, b) => this.#compare(a, b));
      const pending = this.#outgoing.filter((o) => o.entry.messageId === null).map((o) => o.entry);
      this.#sorted = [...confirmed, ...pending];
    }
    return this.#sorted;
  }

  /** The id of the last message of the room's log we have: sent as `lastMessageId` in the next join. */
  get lastMessageId(): string | undefined {
    return this.#lastId;
  }

  get unread(): number {
    return this.#unread;
  }

  get pendingCount(): number {
    return this.#outgoing.length;
  }

  /** Who we are, so our own messages are told apart. */
  setSelf(identity: string, name: string): void {
    this.#selfName = name;
    if (this.#self === identity) return;
    this.#self = identity;
    for (const o of this.#outgoing) o.entry.from = { identity, name };
    for (const e of this.#byId.values()) e.own = e.from.identity === identity;
    this.#changed();
  }

  /** Whether the user sees the chat now; becoming visible clears the unread count. */
  setVisible(visible: boolean): void {
    this.#visible = visible;
    if (visible && this.#unread !== 0) {
      this.#unread = 0;
      this.emit('unread', 0);
    }
  }

  /**
   * The `chat` of a join response. On the first join it is history (not counted as unread); after a
   * reconnect it is what was said while we were away (counted). Then sends that waited go out again.
   */
  applyJoin(chat: readonly ChatMessageInfo[]): void {
    if (this.#closed) return;
    for (const m of chat) this.#add(m, this.#joined);
    this.#joined = true;
    this.#online = true;
    this.#changed();
    for (const o of this.#outgoing) if (!o.inFlight) void this.#transmit(o);
  }

  /** The socket is gone; sends wait for the next join. */
  setOffline(): void {
    this.#online = false;
  }

  /** A `chat.message` notification. */
  receive(message: ChatMessageInfo): void {
    if (this.#add(message, true)) this.#changed();
  }

  /**
   * Sends a message. It shows at once as pending; resolves when the server has it or refused it (a
   * refusal is emitted as 'refused' and the line leaves the list). Blank text is ignored.
   */
  send(text: string, to?: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (text.trim().length === 0) return Promise.resolve();
    const entry: ChatEntry = {
      messageId: null,
      clientMessageId: this.#newId(),
      from: { identity: this.#self ?? '', name: this.#selfName },
      text,
      ts: Date.now(),
      kind: 'user',
      state: 'pending',
      own: true,
      ...(to ? { to } : {}),
    };
    const out: Outgoing = { entry, timeouts: 0, inFlight: false };
    this.#outgoing.push(out);
    this.#changed();
    // Offline: the send goes out after the next join (applyJoin).
    if (!this.#online) return Promise.resolve();
    return this.#transmit(out);
  }

  /** The session ended: nothing is sent any more; lines that never got through leave the list. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#online = false;
    this.#outgoing.splice(0);
    this.#changed();
  }

  async #transmit(out: Outgoing): Promise<void> {
    const e = out.entry;
    out.inFlight = true;
    try {
      const ack = await this.#send({
        text: e.text,
        clientMessageId: e.clientMessageId!,
        ...(e.to ? { to: e.to } : {}),
      });
      out.inFlight = false;
      this.#removeOutgoing(out);
      // The log's copy (with its seq) may have arrived before the acknowledgement.
      if (!this.#byId.has(ack.messageId)) {
        e.messageId = ack.messageId;
        e.ts = ack.ts;
        e.state = 'sent';
        this.#insert(e);
      }
      this.#changed();
    } catch (error) {
      out.inFlight = false;
      const code = String((error as { code?: unknown }).code ?? 'INTERNAL');
      const message = String((error as Error).message ?? error);
      if (this.#closed) return;
      if (code === 'TIMEOUT' && ++out.timeouts <= MAX_TIMEOUT_RETRIES && this.#online) {
        return this.#transmit(out);
      }
      // Lost socket (or it timed out too often): the next join sends it again, same id.
      if (TRANSIENT.has(code)) return;
      this.#removeOutgoing(out);
      this.#changed();
      this.emit('refused', { code, message, text: e.text });
    }
  }

  #removeOutgoing(out: Outgoing): void {
    const i = this.#outgoing.indexOf(out);
    if (i >= 0) this.#outgoing.splice(i, 1);
  }

  /** Adds a message of the log; returns false for a repeat. */
  #add(m: ChatMessageInfo, countUnread: boolean): boolean {
    // The log position moves forward even for a repeat, so the resume point is never behind.
    if (m.seq !== undefined ? m.seq > this.#lastSeq : this.#lastSeq < 0) {
      if (m.seq !== undefined) this.#lastSeq = m.seq;
      this.#lastId = m.messageId;
    }
    const existing = this.#byId.get(m.messageId);
    if (existing && existing.seq !== undefined) return false;
    const own = this.#self !== null && m.from.identity === this.#self;
    const entry: ChatEntry = {
      messageId: m.messageId,
      clientMessageId: existing?.clientMessageId ?? null,
      from: { identity: m.from.identity, name: m.from.name },
      text: m.text,
      ts: m.ts,
      kind: m.kind ?? 'user',
      state: 'sent',
      own,
      ...(m.seq !== undefined ? { seq: m.seq } : {}),
      ...(m.to ? { to: m.to } : {}),
      ...(m.file ? { file: m.file } : {}),
    };
    if (existing) this.#arrival.delete(existing);
    this.#insert(entry);
    if (!existing && countUnread && !own && entry.kind === 'user' && !this.#visible) {
      this.#unread += 1;
      this.emit('unread', this.#unread);
    }
    return true;
  }

  #insert(entry: ChatEntry): void {
    this.#byId.set(entry.messageId!, entry);
    this.#arrival.set(entry, this.#arrivals++);
    if (this.#byId.size > MAX_ENTRIES) {
      const oldest = [...this.#byId.values()].sort((a, b) => this.#compare(a, b))[0]!;
      this.#byId.delete(oldest.messageId!);
      this.#arrival.delete(oldest);
    }
  }

  /** Log order: by seq; lines without a seq (acked, log copy not here yet) after them, as they came. */
  #compare(a: ChatEntry, b: ChatEntry): number {
    if (a.seq !== undefined && b.seq !== undefined) return a.seq - b.seq;
    if (a.seq !== undefined) return -1;
    if (b.seq !== undefined) return 1;
    return (this.#arrival.get(a) ?? 0) - (this.#arrival.get(b) ?? 0);
  }

  #changed(): void {
    this.#sorted = null;
    this.emit('changed');
  }
}
