import type {
  ConsumeResult,
  Grants,
  MediaKind,
  NotificationMethod,
  Notifications,
  ParticipantInfo,
  TrackSource,
} from '../../proto/signaling/messages';
import { TypedEmitter } from '../media/TypedEmitter';

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
  #link: ParticipantLink | undefined;
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
    this.#link?.notify(method, data);
  }

  /** Marks the participant gone and closes its socket, if any. Idempotent. */
  markLeft(code: number, reason: string): void {
    if (this.#left) return;
    this.#left = true;
    this.#clearGrace();
    const link = this.#link;
    this.#link = undefined;
    link?.close(code, reason);
    this.removeAllListeners();
  }

  #clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }
}
