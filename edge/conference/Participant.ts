import { TypedEmitter } from '../../lib/events/TypedEmitter';
import type {
  ConsumeResult,
  Grants,
  MediaKind,
  NotificationMethod,
  Notifications,
  ParticipantInfo,
  TrackSource,
} from '../../proto/signaling/messages';

/** The socket a participant is reached through right now; owned by the signaling layer. */
export interface ParticipantLink {
  notify<M extends NotificationMethod>(method: M, data: Notifications[M]): void;
  /** Ends the socket: the participant left, was removed, or was replaced by a newer socket. */
  close(code: number, reason: string): void;
}

export interface OwnTransport {
  id: string;
  direction: 'send' | 'recv';
}

export interface OwnProducer {
  producerId: string;
  kind: MediaKind;
  source: TrackSource;
  paused: boolean;
}

export type ParticipantEvents = {
  /** The socket dropped and the grace period started. */
  detached: [];
  /** The grace period ran out without a new socket. */
  gracetimeout: [];
};

/**
 * One person in a conference on this edge. It outlives its socket: when the socket drops, the
 * participant keeps its transports, producers and consumers for a grace period, and a new socket with
 * the same token re-attaches to it. The media objects themselves are owned by the room's media Room;
 * this records which of them are the participant's so they can be listed on resume and closed on leave.
 */
export class Participant extends TypedEmitter<ParticipantEvents> {
  readonly info: ParticipantInfo;
  grants: Grants;
  readonly transports = new Map<string, OwnTransport>();
  readonly producers = new Map<string, OwnProducer>();
  readonly consumers = new Map<string, ConsumeResult>();
  /** The client's RTP capabilities, sent with its first consume (mediasoup-client's device.rtpCapabilities). */
  rtpCapabilities: unknown;
  /** seq of the last chat message sent to this participant's socket. */
  lastChatSeq = -1;
  #link: ParticipantLink | undefined;
  /** While a join is being answered, notifications wait here so none overtakes the join response. */
  #held: { method: NotificationMethod; data: unknown }[] | undefined;
  #chatFloor = -1;
  #graceTimer: NodeJS.Timeout | undefined;
  #left = false;

  constructor(info: ParticipantInfo, grants: Grants) {
    super();
    this.info = info;
    this.grants = grants;
  }

  get identity(): string {
    return this.info.identity;
  }

  get connected(): boolean {
    return this.#link !== undefined;
  }

  get left(): boolean {
    return this.#left;
  }

  /** Attaches a socket; a previous socket of the same participant is closed as replaced. */
  attach(link: ParticipantLink, replacedCode: number): void {
    this.#clearGrace();
    const previous = this.#link;
    this.#link = link;
    if (previous && previous !== link) previous.close(replacedCode, 'replaced by a newer connection');
  }

  /** The socket dropped: keep everything for `graceMs`, then emit 'gracetimeout'. */
  detach(link: ParticipantLink, graceMs: number): void {
    if (this.#link !== link || this.#left) return;
    this.#link = undefined;
    this.#clearGrace();
    this.#graceTimer = setTimeout(() => this.safeEmit('gracetimeout'), graceMs);
    this.#graceTimer.unref();
    this.safeEmit('detached');
  }

  notify<M extends NotificationMethod>(method: M, data: Notifications[M]): void {
    // While detached, notifications are dropped: a resuming client receives a fresh snapshot instead.
    if (this.#held) this.#held.push({ method, data });
    else this.#link?.notify(method, data);
  }

  /**
   * Sends a chat message unless this participant already has it. A detached participant does not
   * advance: it receives the message from the history when it resumes.
   */
  deliverChat(message: Notifications['chat.message'] & { seq: number }): void {
    if (message.seq <= this.lastChatSeq || (!this.#link && !this.#held)) return;
    this.lastChatSeq = message.seq;
    this.notify('chat.message', message);
  }

  /** Holds notifications until release(): used while the join response is being prepared. */
  hold(): void {
    this.#held ??= [];
    this.#chatFloor = -1;
  }

  /** The join response carries chat up to `seq`: held chat messages up to it are not sent again. */
  chatSentUpTo(seq: number): void {
    this.#chatFloor = seq;
    this.lastChatSeq = Math.max(this.lastChatSeq, seq);
  }

  /** Sends what was held, in order (call after the join response is sent). */
  release(): void {
    const held = this.#held;
    this.#held = undefined;
    for (const n of held ?? []) {
      if (n.method === 'chat.message' && ((n.data as { seq: number }).seq ?? -1) <= this.#chatFloor) continue;
      this.#link?.notify(n.method, n.data as never);
    }
  }

  /** Marks the participant gone and closes its socket (unless `code` is null). Idempotent. */
  markLeft(code: number | null, reason: string): void {
    if (this.#left) return;
    this.#left = true;
    this.#clearGrace();
    const link = this.#link;
    this.#link = undefined;
    if (code !== null) link?.close(code, reason);
    this.removeAllListeners();
  }

  #clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }
}
