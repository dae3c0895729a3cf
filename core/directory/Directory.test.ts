import { describe, expect, it } from 'vitest';
import { Envelope, type RoomEvent, TrackKind, TrackSource } from '../../proto/gen/meetview/events/v1/events';
import { Directory } from './Directory';

let n = 0;
function env(room: string, node: string, event: RoomEvent['event']): Envelope {
  const region = node.split('-')[0]!;
  return Envelope.fromPartial({
    id: `e${++n}`,
    room,
    originRegion: region,
    originNode: node,
    tsMs: 1000 + n,
    payload: { $case: 'roomEvent', value: { event } },
  });
}
const who = (identity: string, node: string) => ({
  identity,
  name: identity,
  region: node.split('-')[0]!,
  node,
});
const joined = (room: string, id: string, node: string) =>
  env(room, node, { $case: 'participantJoined', value: { participant: who(id, node) } });
const left = (room: string, id: string, node: string) =>
  env(room, node, { $case: 'participantLeft', value: { participant: who(id, node), reason: 'left' } });

describe('Directory', () => {
  it('counts participants, tracks, regions and nodes across regions, and forgets an empty room', () => {
    const d = new Directory();
    d.apply(joined('r', 'a', 'seoul-edge-1'));
    d.apply(joined('r', 'b', 'frankfurt-edge-1'));
    d.apply(
      env('r', 'seoul-edge-1', {
        $case: 'trackPublished',
        value: {
          participant: who('a', 'seoul-edge-1'),
          track: {
            producerId: 'p1',
            kind: TrackKind.TRACK_KIND_AUDIO,
            source: TrackSource.TRACK_SOURCE_MICROPHONE,
            paused: false,
            simulcast: false,
          },
        },
      }),
    );
    expect(d.counts(d.room('r')!)).toMatchObject({
      participants: 2,
      tracks: 1,
      regions: ['frankfurt', 'seoul'],
      nodes: ['frankfurt-edge-1', 'seoul-edge-1'],
    });
    d.apply(left('r', 'a', 'seoul-edge-1'));
    expect(d.counts(d.room('r')!)).toMatchObject({ participants: 1, tracks: 0, regions: ['frankfurt'] });
    d.apply(left('r', 'b', 'frankfurt-edge-1'));
    expect(d.room('r')).toBeUndefined();
  });

  it('ignores the leave of an identity that rejoined on another node', () => {
    const d = new Directory();
    d.apply(joined('r', 'a', 'seoul-edge-1'));
    d.apply(joined('r', 'a', 'seoul-edge-2'));
    d.apply(left('r', 'a', 'seoul-edge-1'));
    expect(d.room('r')?.participants.get('a')?.participant.node).toBe('seoul-edge-2');
  });

  it('a room closed on one edge keeps its participants elsewhere', () => {
    const d = new Directory();
    d.apply(joined('r', 'a', 'seoul-edge-1'));
    d.apply(joined('r', 'b', 'frankfurt-edge-1'));
    d.apply(env('r', 'seoul-edge-1', { $case: 'roomClosed', value: { reason: 'x' } }));
    expect([...d.room('r')!.participants.keys()]).toEqual(['b']);
    d.apply(env('r', 'frankfurt-edge-1', { $case: 'roomClosed', value: { reason: 'x' } }));
    expect(d.room('r')).toBeUndefined();
  });

  it('forgets the participants of a node that is gone, keeping the room where it lives on', () => {
    const d = new Directory();
    d.apply(joined('r', 'a', 'seoul-edge-1'));
    d.apply(joined('r', 'b', 'frankfurt-edge-1'));
    d.apply(joined('s', 'c', 'seoul-edge-1'));
    expect(d.nodes()).toEqual(
      new Map([
        ['seoul-edge-1', 'seoul'],
        ['frankfurt-edge-1', 'frankfurt'],
      ]),
    );
    expect(d.removeNode('seoul-edge-1')).toBe(2);
    expect([...d.room('r')!.participants.keys()]).toEqual(['b']);
    expect(d.room('s')).toBeUndefined();
  });

  it('pages in name order', () => {
    const d = new Directory();
    for (const r of ['c', 'a', 'b', 'd']) d.apply(joined(r, 'x', 'seoul-edge-1'));
    const p1 = d.page('', 3);
    expect(p1.rooms.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(p1.next).toBe('c');
    const p2 = d.page(p1.next!, 3);
    expect(p2.rooms.map((r) => r.name)).toEqual(['d']);
    expect(p2.next).toBeUndefined();
  });
});
