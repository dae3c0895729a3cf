/** The RTP fixed header fields the tests look at (RFC 3550 §5.1). */
export interface RtpHeader {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Offset of the payload (after CSRCs and the header extension). */
  payloadOffset: number;
}

/** Parses an RTP packet; undefined for RTCP (PT 200–204 with rtcp-mux) or anything not RTP. */
export function parseRtp(packet: Buffer): RtpHeader | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  const secondByte = packet[1]!;
  if (secondByte >= 192 && secondByte <= 223) return undefined; // RTCP (RFC 5761)
  const csrcCount = packet[0]! & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  }
  if (offset > packet.length) return undefined;
  return {
    payloadType: secondByte & 0x7f,
    marker: (secondByte & 0x80) !== 0,
    sequenceNumber: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payloadOffset: offset,
  };
}

/**
 * Whether an RTP VP8 payload starts a key frame: the payload descriptor (RFC 7741 §4.2) with S=1
 * and partition 0, then a VP8 frame header whose P bit is 0 and which carries the key frame start
 * code 9d 01 2a (RFC 6386 §9.1).
 */
export function isVp8KeyFrameStart(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const first = payload[0]!;
  const startOfPartition = (first & 0x10) !== 0;
  const partitionIndex = first & 0x0f;
  if (!startOfPartition || partitionIndex !== 0) return false;
  let offset = 1;
  if (first & 0x80) {
    const extension = payload[offset++];
    if (extension === undefined) return false;
    if (extension & 0x80) {
      const pictureId = payload[offset++];
      if (pictureId === undefined) return false;
      if (pictureId & 0x80) offset++;
    }
    if (extension & 0x40) offset++;
    if (extension & 0x30) offset++;
  }
  if (payload.length < offset + 6) return false;
  const frameTag = payload[offset]!;
  return (
    (frameTag & 0x01) === 0 &&
    payload[offset + 3] === 0x9d &&
    payload[offset + 4] === 0x01 &&
    payload[offset + 5] === 0x2a
  );
}
