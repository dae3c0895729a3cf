import type { Kafka } from 'kafkajs';
import { newId } from '../../lib/ids';
import { KeyedProducer, ROOM_EVENTS_TOPIC } from '../../lib/kafka';
import { Envelope, type RoomEvent, TrackKind, TrackSource } from '../../proto/gen/meetview/events/v1/events';
import type {
  MediaKind,
  ParticipantInfo,
  TrackSource as SignalingSource,
} from '../../proto/signaling/messages';

const SOURCES: Record<SignalingSource, TrackSource> = {
  microphone: TrackSource.TRACK_SOURCE_MICROPHONE,
  camera: TrackSource.TRACK_SOURCE_CAMERA,
  screen: TrackSource.TRACK_SOURCE_SCREEN,
  'screen-audio': TrackSource.TRACK_SOURCE_SCREEN_AUDIO,
};

/**
 * Writes the room's events (joined, left, published, unpublished, closed) to the region's
 * `room-events` topic, keyed by room, as protobuf envelopes. MirrorMaker 2 carries them to the other
 * regions and the core, where the directory and the Admin API are built from them. Best effort for the
 * caller: a failed write is logged, the meeting goes on.
 */
export class RoomEventLog {
  readonly #producer: KeyedProducer;
  readonly #region: string;
  readonly #node: string;
  /** This node's internal gRPC address, written on every participant: other regions pipe from it. */
  readonly #address: string | undefined;
  readonly #pending = new Set<Promise<unknown>>();
  /** Per room, its newest write: the next one waits for it. */
  readonly #lastWrite = new Map<string, Promise<unknown>>();

  constructor(kafka: Kafka, region: string, node: string, address?: string) {
    this.#producer = new KeyedProducer(kafka);
    this.#region = region;
    this.#node = node;
    this.#address = address;
  }

  async connect(): Promise<void> {
    await this.#producer.connect();
  }

  joined(room: string, p: ParticipantInfo): void {
    this.#write(room, {
      event: { $case: 'participantJoined', value: { participant: this.#participant(p) } },
    });
  }

  left(room: string, p: ParticipantInfo, reason: string): void {
    this.#write(room, {
      event: { $case: 'participantLeft', value: { participant: this.#participant(p), reason } },
    });
  }

  published(
    room: string,
    p: ParticipantInfo,
    t: { producerId: string; kind: MediaKind; source: SignalingSource; paused: boolean },
  ): void {
    this.#write(room, {
      event: {
        $case: 'trackPublished',
        value: {
          participant: this.#participant(p),
          track: {
            producerId: t.producerId,
            kind: t.kind === 'audio' ? TrackKind.TRACK_KIND_AUDIO : TrackKind.TRACK_KIND_VIDEO,
            source: SOURCES[t.source],
            paused: t.paused,
            simulcast: false,
          },
        },
      },
    });
  }

  unpublished(room: string, p: ParticipantInfo, producerId: string): void {
    this.#write(room, {
      event: { $case: 'trackUnpublished', value: { participant: this.#participant(p), producerId } },
    });
  }

  /** A track paused (muted) or resumed, by its owner or by an operator. */
  muted(room: string, p: ParticipantInfo, producerId: string, muted: boolean): void {
    this.#write(room, {
      event: { $case: 'trackMuted', value: { participant: this.#participant(p), producerId, muted } },
    });
  }

  closed(room: string, reason: string): void {
    this.#write(room, { event: { $case: 'roomClosed', value: { reason } } });
  }

  /** Waits (at most 5 s) for the writes under way, then disconnects. */
  async close(): Promise<void> {
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ]);
    await this.#producer.disconnect();
  }

  #participant(p: ParticipantInfo) {
    return {
      identity: p.identity,
      name: p.name,
      region: p.region,
      node: p.node,
      // The participant is served here (p.node is this node), so this node's address is theirs.
      ...(this.#address && p.node === this.#node ? { nodeAddress: this.#address } : {}),
    };
  }

  #write(room: string, event: RoomEvent): void {
    const envelope: Envelope = {
      id: newId(),
      room,
      originRegion: this.#region,
      originNode: this.#node,
      tsMs: Date.now(),
      payload: { $case: 'roomEvent', value: event },
    };
    const value = Buffer.from(Envelope.encode(envelope).finish());
    // One room's writes go one after the other: concurrent sends can reach the broker out of order (the
    // first ones of a process each wait for the topic's metadata), and a "left" written before its
    // "joined" would leave a ghost in every other region's view of the room.
    const previous = this.#lastWrite.get(room) ?? Promise.resolve();
    const write: Promise<unknown> = previous
      .then(() => this.#producer.send(ROOM_EVENTS_TOPIC, [{ key: room, value }]))
      .catch((err) =>
        console.error(`[room-events] ${room}: ${event.event?.$case} not written: ${(err as Error).message}`),
      )
      .finally(() => {
        this.#pending.delete(write);
        if (this.#lastWrite.get(room) === write) this.#lastWrite.delete(room);
      });
    this.#lastWrite.set(room, write);
    this.#pending.add(write);
  }
}
