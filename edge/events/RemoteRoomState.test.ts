import { describe, expect, it } from 'vitest';
import {
  type Envelope,
  type RoomEvent,
  TrackKind,
  TrackSource,
} from '../../proto/gen/meetview/events/v1/events';
import { RemoteRoomState } from './RemoteRoomState';

let seq = 0;
function env(room: string, node: string, event: RoomEvent['event'], region = 'seoul', id?: string): Envelope {
  return {
    id: id ?? `e${++seq}`,
    room,
    originRegion: region,
    originNode: node,
    tsMs: 1000 + seq,
    payload: { $case: 'roomEvent', value: { event } },
  };
}
const who = (identity: string, node: string, region = 'seoul') => ({
  identity,
  name: identity.toUpperCase(),
  region,
  node,
  nodeAddress: `${node}.internal:7000`,
});
const joined = (identity: string, node: string): RoomEvent['event'] => ({
  $case: 'participantJoined',
  value: { participant: who(identity, node) },
});
const left = (identity: string, node: string, reason = 'left'): RoomEvent['event'] => ({
  $case: 'participantLeft',
  value: { participant: who(identity, node), reason },
});
const published = (identity: string, node: string, producerId: string): RoomEvent['event'] => ({
  $case: 'trackPublished',
  value: {
    participant: who(identity, node),
    track: {
      producerId,
      kind: TrackKind.TRACK_KIND_VIDEO,
      source: TrackSource.TRACK_SOURCE_CAMERA,
      paused: false,
      simulcast: false,
    },
  },
});

describe('RemoteRoomState', () => {
  it('folds joins, tracks, mutes and leaves into the present roster with each owner edge', () => {
    const s = new RemoteRoomState('frankfurt');
    expect(s.apply(env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1')))).toBe('r');
    s.apply(env('r', 'seoul-edge-1', published('ana', 'seoul-edge-1', 'p1')));
    s.apply(
      env('r', 'seoul-edge-1', {
        $case: 'trackMuted',
        value: { participant: who('ana', 'seoul-edge-1'), producerId: 'p1', muted: true },
      }),
    );
    const room = s.room('r');
    expect(room.participants.get('ana')?.info).toMatchObject({ name: 'ANA', region: 'seoul' });
    expect(room.tracks.get('p1')).toEqual({
      track: { producerId: 'p1', identity: 'ana', kind: 'video', source: 'camera', paused: true },
      owner: { node: 'seoul-edge-1', region: 'seoul', address: 'seoul-edge-1.internal:7000' },
    });
    s.apply(env('r', 'seoul-edge-1', left('ana', 'seoul-edge-1', 'timeout')));
    expect(s.room('r').participants.size).toBe(0);
    expect(s.room('r').tracks.size).toBe(0);
    // An empty room is forgotten: the fold's size follows the live roster, not the log.
    expect(s.roomCount).toBe(0);
  });

  it('drops duplicates by envelope id, so a mirrored copy of an old join cannot bring someone back', () => {
    const s = new RemoteRoomState('frankfurt');
    const join = env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1'));
    s.apply(join);
    s.apply(env('r', 'seoul-edge-1', left('ana', 'seoul-edge-1')));
    expect(s.apply({ ...join })).toBeUndefined();
    expect(s.room('r').participants.has('ana')).toBe(false);
  });

  it('a leave from an edge the participant already moved away from does not remove it', () => {
    const s = new RemoteRoomState('frankfurt');
    s.apply(env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1')));
    s.apply(env('r', 'seoul-edge-2', joined('ana', 'seoul-edge-2')));
    s.apply(env('r', 'seoul-edge-2', published('ana', 'seoul-edge-2', 'p2')));
    // The old edge's grace period ends after the move.
    expect(s.apply(env('r', 'seoul-edge-1', left('ana', 'seoul-edge-1', 'timeout')))).toBeUndefined();
    expect(s.room('r').participants.get('ana')?.owner.node).toBe('seoul-edge-2');
    expect(s.room('r').tracks.has('p2')).toBe(true);
  });

  it('a room closed on one edge removes that edge’s participants and tracks only', () => {
    const s = new RemoteRoomState('frankfurt');
    s.apply(env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1')));
    s.apply(env('r', 'seoul-edge-1', published('ana', 'seoul-edge-1', 'p1')));
    s.apply(env('r', 'seoul-edge-2', joined('bo', 'seoul-edge-2')));
    s.apply(env('r', 'seoul-edge-1', { $case: 'roomClosed', value: { reason: 'closed by operator' } }));
    expect([...s.room('r').participants.keys()]).toEqual(['bo']);
    expect(s.room('r').tracks.size).toBe(0);
    expect(s.room('r').leftReason('ana')).toBe('room closed');
  });

  it('ignores this region’s own events, other payloads and unknown track kinds', () => {
    const s = new RemoteRoomState('seoul');
    expect(s.apply(env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1'), 'seoul'))).toBeUndefined();
    const s2 = new RemoteRoomState('frankfurt');
    const chat: Envelope = {
      ...env('r', 'seoul-edge-1', undefined),
      payload: {
        $case: 'chat',
        value: { from: undefined, text: 'hi', to: '', kind: 1, clientMessageId: '', file: undefined },
      },
    };
    expect(s2.apply(chat)).toBeUndefined();
    const odd = published('ana', 'seoul-edge-1', 'p9');
    if (odd?.$case === 'trackPublished' && odd.value.track)
      odd.value.track.kind = TrackKind.TRACK_KIND_UNSPECIFIED;
    expect(s2.apply(env('r', 'seoul-edge-1', odd))).toBeUndefined();
    expect(s2.room('r').tracks.size).toBe(0);
  });

  it('with a local node, folds the other edges of its own region and skips only its own events', () => {
    const s = new RemoteRoomState('seoul', { localNode: 'seoul-edge-1' });
    expect(s.apply(env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1'), 'seoul'))).toBeUndefined();
    expect(s.apply(env('r', 'seoul-edge-2', joined('bo', 'seoul-edge-2'), 'seoul'))).toBe('r');
    expect(s.apply(env('r', 'seoul-edge-2', published('bo', 'seoul-edge-2', 'p1'), 'seoul'))).toBe('r');
    expect(s.apply(env('r', 'fra-edge-1', joined('cy', 'fra-edge-1'), 'frankfurt'))).toBe('r');
    expect([...s.room('r').participants.keys()]).toEqual(['bo', 'cy']);
    expect(s.room('r').tracks.get('p1')?.owner).toEqual({
      node: 'seoul-edge-2',
      region: 'seoul',
      address: 'seoul-edge-2.internal:7000',
    });
  });

  it('forgets the oldest ids beyond its dedupe capacity', () => {
    const s = new RemoteRoomState('frankfurt', { dedupeCapacity: 2 });
    const first = env('r', 'seoul-edge-1', joined('ana', 'seoul-edge-1'), 'seoul', 'id-1');
    s.apply(first);
    s.apply(env('r', 'seoul-edge-1', joined('bo', 'seoul-edge-1'), 'seoul', 'id-2'));
    s.apply(env('r', 'seoul-edge-1', left('ana', 'seoul-edge-1'), 'seoul', 'id-3'));
    // id-1 has been evicted: the same envelope is folded again (a bounded memory, by design).
    expect(s.apply(first)).toBe('r');
  });
});
