import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';
import {
  type Envelope,
  type Participant as EventParticipant,
  TrackKind,
  TrackSource,
} from '../../proto/gen/meetview/events/v1/events';
import type {
  MediaKind,
  ParticipantInfo,
  TrackSource as SignalingSource,
  TrackInfo,
} from '../../proto/signaling/messages';

/** A participant of another region, and the edge that serves it. */
export interface RemoteParticipant {
  info: ParticipantInfo;
  owner: NodeRef;
}

/** A track of another region, and the edge that owns its producer (where a pipe asks for it). */
export interface RemoteTrack {
  track: TrackInfo;
  owner: NodeRef;
}

/** One room as the other regions' room events describe it now. */
export interface RemoteRoomView {
  readonly participants: ReadonlyMap<string, RemoteParticipant>;
  readonly tracks: ReadonlyMap<string, RemoteTrack>;
  /** Why a participant that is no longer in `participants` left (the last leave seen, while remembered). */
  leftReason(identity: string): string | undefined;
}

type MutableRoom = {
  participants: Map<string, RemoteParticipant>;
  tracks: Map<string, RemoteTrack>;
};

const KINDS: Partial<Record<TrackKind, MediaKind>> = {
  [TrackKind.TRACK_KIND_AUDIO]: 'audio',
  [TrackKind.TRACK_KIND_VIDEO]: 'video',
};
const SOURCES: Partial<Record<TrackSource, SignalingSource>> = {
  [TrackSource.TRACK_SOURCE_MICROPHONE]: 'microphone',
  [TrackSource.TRACK_SOURCE_CAMERA]: 'camera',
  [TrackSource.TRACK_SOURCE_SCREEN]: 'screen',
  [TrackSource.TRACK_SOURCE_SCREEN_AUDIO]: 'screen-audio',
};

/** Envelope ids remembered for dropping duplicates: mirror and retry copies arrive close to the original. */
const DEFAULT_DEDUPE_CAPACITY = 100_000;
/** Leave reasons remembered (the newest), so a conference can say why; kept apart from the rooms, which
 * are dropped once empty. */
const MAX_LEFT_REASONS = 10_000;

/**
 * The fold of other regions' room events: per room, who is present in the other regions, which tracks
 * they publish, and the edge each is served by. It keeps only the present roster (a participant that
 * left is forgotten, a room with nobody is dropped), so its size follows the live remote participants,
 * not the length of the log. Duplicates (producer retries, mirror copies) are dropped by envelope id.
 *
 * Rules that keep it right when a participant moves between edges of its region: a leave (or a room's
 * close on an edge) removes a participant only if it names the edge the participant is on now, and takes
 * only that edge's tracks with it.
 */
export class RemoteRoomState {
  readonly #localRegion: string;
  /** Set: the region's own events are folded too (several edges share a room), except this node's. */
  readonly #localNode: string | undefined;
  readonly #rooms = new Map<string, MutableRoom>();
  readonly #seen = new Set<string>();
  /** `${room}\u0000${identity}` → why the participant left. */
  readonly #leftReasons = new Map<string, string>();
  readonly #dedupeCapacity: number;

  /**
   * `localNode`: fold the events of this region's other edges too (placement 'local': the edges of a
   * region share a room), skipping only this node's own; unset, the whole local region is skipped.
   */
  constructor(localRegion: string, opts: { dedupeCapacity?: number; localNode?: string } = {}) {
    this.#localRegion = localRegion;
    this.#localNode = opts.localNode;
    this.#dedupeCapacity = opts.dedupeCapacity ?? DEFAULT_DEDUPE_CAPACITY;
  }

  /** The room now (an empty view when no other region has anyone in it). */
  room(name: string): RemoteRoomView {
    const room = this.#rooms.get(name);
    return {
      participants: room?.participants ?? new Map(),
      tracks: room?.tracks ?? new Map(),
      leftReason: (identity) => this.#leftReasons.get(`${name}\u0000${identity}`),
    };
  }

  get roomCount(): number {
    return this.#rooms.size;
  }

  /**
   * Applies one envelope of a mirrored `room-events` topic. Returns the room it changed, or undefined
   * (a duplicate, another payload, this region's own event, or nothing to change).
   */
  apply(envelope: Envelope): string | undefined {
    if (envelope.payload?.$case !== 'roomEvent') return undefined;
    if (!envelope.id || !envelope.room || this.#isOwn(envelope)) return undefined;
    if (this.#seen.has(envelope.id)) return undefined;
    this.#remember(envelope.id);
    const event = envelope.payload.value.event;
    if (!event) return undefined;
    const name = envelope.room;
    switch (event.$case) {
      case 'participantJoined': {
        const who = event.value.participant;
        if (!who?.identity) return undefined;
        const room = this.#room(name);
        room.participants.set(who.identity, remoteParticipant(who, envelope));
        this.#leftReasons.delete(`${name}\u0000${who.identity}`);
        return name;
      }
      case 'participantLeft': {
        const who = event.value.participant;
        const room = this.#rooms.get(name);
        const present = who ? room?.participants.get(who.identity) : undefined;
        if (!room || !who || !present || present.owner.node !== nodeOf(who, envelope)) return undefined;
        this.#removeParticipant(name, room, who.identity, event.value.reason || 'left');
        this.#dropIfEmpty(name, room);
        return name;
      }
      case 'trackPublished': {
        const who = event.value.participant;
        const t = event.value.track;
        const kind = t ? KINDS[t.kind] : undefined;
        const source = t ? SOURCES[t.source] : undefined;
        if (!who?.identity || !t?.producerId || !kind || !source) return undefined;
        const room = this.#room(name);
        // The join is in the same partition, before it; a participant seen first here is still present.
        if (!room.participants.has(who.identity))
          room.participants.set(who.identity, remoteParticipant(who, envelope));
        room.tracks.set(t.producerId, {
          track: { producerId: t.producerId, identity: who.identity, kind, source, paused: t.paused },
          owner: ownerOf(who, envelope),
        });
        return name;
      }
      case 'trackUnpublished': {
        const room = this.#rooms.get(name);
        if (!room?.tracks.delete(event.value.producerId)) return undefined;
        return name;
      }
      case 'trackMuted': {
        const track = this.#rooms.get(name)?.tracks.get(event.value.producerId);
        if (!track || track.track.paused === event.value.muted) return undefined;
        track.track = { ...track.track, paused: event.value.muted };
        return name;
      }
      case 'roomClosed': {
        // The room ended on the writing edge: everyone it served there is gone.
        const room = this.#rooms.get(name);
        if (!room) return undefined;
        const gone = [...room.participants.values()].filter((p) => p.owner.node === envelope.originNode);
        if (gone.length === 0) return undefined;
        for (const p of gone) this.#removeParticipant(name, room, p.info.identity, 'room closed');
        this.#dropIfEmpty(name, room);
        return name;
      }
      default:
        return undefined;
    }
  }

  /** This edge's own event (or, when only other regions are folded, its region's). */
  #isOwn(envelope: Envelope): boolean {
    if (this.#localNode === undefined) return envelope.originRegion === this.#localRegion;
    return envelope.originRegion === this.#localRegion && envelope.originNode === this.#localNode;
  }

  #room(name: string): MutableRoom {
    let room = this.#rooms.get(name);
    if (!room) {
      room = { participants: new Map(), tracks: new Map() };
      this.#rooms.set(name, room);
    }
    return room;
  }

  #removeParticipant(name: string, room: MutableRoom, identity: string, reason: string): void {
    const present = room.participants.get(identity);
    if (!present) return;
    room.participants.delete(identity);
    for (const [id, t] of room.tracks)
      if (t.track.identity === identity && t.owner.node === present.owner.node) room.tracks.delete(id);
    const key = `${name}\u0000${identity}`;
    this.#leftReasons.delete(key);
    this.#leftReasons.set(key, reason);
    if (this.#leftReasons.size > MAX_LEFT_REASONS) {
      const oldest = this.#leftReasons.keys().next().value;
      if (oldest !== undefined) this.#leftReasons.delete(oldest);
    }
  }

  #dropIfEmpty(name: string, room: MutableRoom): void {
    if (room.participants.size === 0 && room.tracks.size === 0) this.#rooms.delete(name);
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > this.#dedupeCapacity) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}

function nodeOf(who: EventParticipant, envelope: Envelope): string {
  return who.node || envelope.originNode;
}

function ownerOf(who: EventParticipant, envelope: Envelope): NodeRef {
  return {
    node: nodeOf(who, envelope),
    region: who.region || envelope.originRegion,
    address: who.nodeAddress ?? '',
  };
}

function remoteParticipant(who: EventParticipant, envelope: Envelope): RemoteParticipant {
  const owner = ownerOf(who, envelope);
  return {
    info: {
      identity: who.identity,
      name: who.name,
      region: owner.region,
      node: owner.node,
      joinedAt: envelope.tsMs,
    },
    owner,
  };
}
