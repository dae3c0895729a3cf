import { type JoinOptions, MeetingSession } from './MeetingSession';

/**
 * Keeps at most one MeetingSession prepared (MeetingSession.prepare()) for the signaling URL the prejoin
 * will join with. Another URL (a new name or room gives a new token) ends the one before, so the edge
 * never holds transports for a choice the person moved away from.
 */
export class SessionPreparer {
  #current: { url: string; session: MeetingSession } | null = null;

  /** Prepares a session for `url` unless it is the one prepared already; `onReady` when it is connected. */
  prepare(
    url: string,
    options: Pick<JoinOptions, 'routerRtpCapabilities' | 'device'>,
    onReady: () => void,
  ): void {
    if (this.#current?.url === url && this.#current.session.state !== 'closed') return;
    this.clear();
    const session = new MeetingSession({ url });
    const current = { url, session };
    this.#current = current;
    session.on('prepared', () => {
      if (this.#current === current) onReady();
    });
    session.on('closed', () => {
      if (this.#current === current) this.#current = null;
    });
    session.prepare(options);
  }

  /** The session prepared for exactly `url`, handed over to the caller (null when there is none). */
  take(url: string): MeetingSession | null {
    const current = this.#current;
    if (!current || current.url !== url || current.session.state !== 'idle') return null;
    this.#current = null;
    return current.session;
  }

  /** Ends the prepared session, if any (its transports are closed on the edge with its socket). */
  clear(): void {
    const current = this.#current;
    this.#current = null;
    if (current && current.session.state !== 'closed') void current.session.leave();
  }
}
