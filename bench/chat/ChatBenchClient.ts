/** One chat participant as a benchmark drives it, whichever system is behind it. */
export interface ChatBenchClient {
  readonly identity: string;
  /** Called with the text of every user chat message delivered to this participant (its own too). */
  onMessage: ((text: string) => void) | undefined;
  /** Resolves when the server acknowledges the message (Meetview: once it is in Kafka). */
  send(text: string): Promise<void>;
  close(): void;
}
