import type {
  ConsumeResult,
  ParticipantInfo,
  TransportInfo,
  WarmupChannelInfo,
} from '../../proto/signaling/messages';

/**
 * Transports and paused consumers made for a connection before it joins (the `prepare` request from the
 * prejoin screen). The Connection owns them until the join, which hands them to the participant; a
 * connection that closes without joining has them closed (Conference.discardPrepared()).
 */
export interface PreparedMedia {
  /** The identity they were made for (the token's): only that participant's join adopts them. */
  identity: string;
  rtpCapabilities: unknown;
  transports: TransportInfo[];
  warmup?: WarmupChannelInfo;
  /**
   * Paused consumers of the room's local tracks on the receive transport: the browser negotiates them
   * before the click, and the join only resumes them. A track closed meanwhile drops out of this list.
   */
  consumers: ConsumeResult[];
  /** The room's participants on this edge when the consumers were made (their publishers' names). */
  participants: ParticipantInfo[];
}
