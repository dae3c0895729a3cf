/**
 * Room-scoped Redis keys. The `{room}` hash tag puts all of a room's keys in one slot, so multi-key
 * commands and transactions on one room work in the cluster.
 */

const ROOM_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function assertRoomId(room: string): void {
  if (!ROOM_ID.test(room))
    throw new Error(`invalid room id ${JSON.stringify(room)}: 1–128 of letters, digits, '.', '_', ':', '-'`);
}

/** The hash tag of a room: `{<room>}`. */
export function roomTag(room: string): string {
  assertRoomId(room);
  return `{${room}}`;
}

/** `room:{<room>}:<part>:<part>…`, e.g. roomKey('r1', 'participants') → `room:{r1}:participants`. */
export function roomKey(room: string, ...parts: string[]): string {
  for (const p of parts)
    if (p.length === 0 || /[{}]/.test(p)) throw new Error(`invalid key part ${JSON.stringify(p)}`);
  return [`room:${roomTag(room)}`, ...parts].join(':');
}
