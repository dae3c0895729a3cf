import type { Envelope, Participant, Track } from '../../proto/gen/meetview/events/v1/events';

export interface DirectoryParticipant {
  participant: Participant;
  tracks: Map<string, Track>;
  joinedAtMs: number;
}

export interface DirectoryRoom {
  name: string;
  createdAtMs: number;
  participants: Map<string, DirectoryParticipant>;
}

export interface RoomCounts {
  name: string;
  participants: number;
  tracks: number;
  regions: string[];
  nodes: string[];
  createdAtMs: number;
}

/**
 * The global room directory: every room with participants in any region, who is in it, where they are
 * connected and what they publish. Built only from room events (the log), so it can always be rebuilt by
 * reading the mirrored topics again. A room with nobody left is forgotten.
 */
export class Directory {
  readonly #rooms = new Map<string, DirectoryRoom>();
  #sorted: string[] | undefined;

  get size(): number {
    return this.#rooms.size;
  }

  room(name: string): DirectoryRoom | undefined {
    return this.#rooms.get(name);
  }

  /** Applies one room event. Events of one room and origin node arrive in order (one Kafka partition). */
  apply(env: Envelope): void {
    if (env.payload?.$case !== 'roomEvent') return;
    const event = env.payload.value.event;
    if (!event) return;
    switch (event.$case) {
      case 'participantJoined': {
        const p = event.value.participant;
        if (!p) return;
        this.#ensure(env.room, env.tsMs).participants.set(p.identity, {
          participant: p,
          tracks: new Map(),
          joinedAtMs: env.tsMs,
        });
        return;
      }
      case 'participantLeft': {
        const p = event.value.participant;
        const room = this.#rooms.get(env.room);
        const held = p && room?.participants.get(p.identity);
        // The same identity may have rejoined on another node since: only its own node's leave counts.
        if (held && held.participant.node === p.node) this.#remove(room!, p.identity);
        return;
      }
      case 'trackPublished': {
        const { participant: p, track } = event.value;
        if (!p || !track) return;
        const room = this.#ensure(env.room, env.tsMs);
        let held = room.participants.get(p.identity);
        if (!held) {
          held = { participant: p, tracks: new Map(), joinedAtMs: env.tsMs };
          room.participants.set(p.identity, held);
        }
        held.tracks.set(track.producerId, track);
        return;
      }
      case 'trackUnpublished': {
        const p = event.value.participant;
        if (p) this.#rooms.get(env.room)?.participants.get(p.identity)?.tracks.delete(event.value.producerId);
        return;
      }
      case 'trackMuted': {
        const p = event.value.participant;
        const track =
          p && this.#rooms.get(env.room)?.participants.get(p.identity)?.tracks.get(event.value.producerId);
        if (track) track.paused = event.value.muted;
        return;
      }
      case 'roomClosed': {
        // A conference closes on one edge; the room goes on wherever else it has participants.
        const room = this.#rooms.get(env.room);
        if (!room) return;
        for (const [identity, held] of [...room.participants])
          if (held.participant.node === env.originNode) this.#remove(room, identity);
        return;
      }
    }
  }

  /** Every node that holds participants, with its region. */
  nodes(): Map<string, string> {
    const nodes = new Map<string, string>();
    for (const room of this.#rooms.values())
      for (const p of room.participants.values()) nodes.set(p.participant.node, p.participant.region);
    return nodes;
  }

  /**
   * Forgets the participants of a node that is gone (it stopped heartbeating without writing their
   * "left" events, e.g. it crashed); returns how many.
   */
  removeNode(node: string): number {
    let removed = 0;
    for (const room of [...this.#rooms.values()])
      for (const [identity, held] of [...room.participants])
        if (held.participant.node === node) {
          this.#remove(room, identity);
          removed++;
        }
    return removed;
  }

  counts(room: DirectoryRoom): RoomCounts {
    const regions = new Set<string>();
    const nodes = new Set<string>();
    let tracks = 0;
    for (const p of room.participants.values()) {
      regions.add(p.participant.region);
      nodes.add(p.participant.node);
      tracks += p.tracks.size;
    }
    return {
      name: room.name,
      participants: room.participants.size,
      tracks,
      regions: [...regions].sort(),
      nodes: [...nodes].sort(),
      createdAtMs: room.createdAtMs,
    };
  }

  /** Up to `limit` rooms in name order, after `after` (exclusive); `next` is set when more follow. */
  page(after: string, limit: number): { rooms: DirectoryRoom[]; next: string | undefined } {
    this.#sorted ??= [...this.#rooms.keys()].sort();
    const names = this.#sorted;
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (names[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    const slice = names.slice(lo, lo + limit);
    return {
      rooms: slice.map((n) => this.#rooms.get(n)!),
      next: lo + limit < names.length ? slice.at(-1) : undefined,
    };
  }

  #ensure(name: string, ts: number): DirectoryRoom {
    let room = this.#rooms.get(name);
    if (!room) {
      room = { name, createdAtMs: ts, participants: new Map() };
      this.#rooms.set(name, room);
      this.#sorted = undefined;
    }
    return room;
  }

  #remove(room: DirectoryRoom, identity: string): void {
    room.participants.delete(identity);
    if (room.participants.size === 0) {
      this.#rooms.delete(room.name);
      this.#sorted = undefined;
    }
  }
}
