/**
 * The rtpdump file format of rtptools (`rtpdump -F dump`, `rtpplay`; Wireshark's "RTP → Save as
 * rtpdump" writes it too): a text line "#!rtpplay1.0 address/port\n", a 16-byte binary header (start
 * time, source address, port), then per packet an 8-byte header — total record length, RTP length
 * (0 for RTCP), milliseconds since start — and the packet. All numbers network byte order.
 */

export type RtpDumpPacket = {
  /** Milliseconds since the start of the recording. */
  offsetMs: number;
  /** The RTP (or RTCP) packet as received. */
  data: Buffer;
  isRtcp: boolean;
};

export type RtpDump = {
  /** Recording start, ms since the epoch. */
  startMs: number;
  source: { ip: string; port: number };
  packets: RtpDumpPacket[];
};

const MAGIC = '#!rtpplay1.0 ';

export function encodeRtpDumpHeader(startMs: number, source: { ip: string; port: number }): Buffer {
  const line = Buffer.from(`${MAGIC}${source.ip}/${source.port}\n`, 'ascii');
  const bin = Buffer.alloc(16);
  bin.writeUInt32BE(Math.floor(startMs / 1000), 0);
  bin.writeUInt32BE(Math.floor((startMs % 1000) * 1000), 4);
  const octets = source.ip.split('.').map(Number);
  if (octets.length === 4 && octets.every((o) => Number.isInteger(o) && o >= 0 && o <= 255))
    bin.writeUInt32BE(((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0, 8);
  bin.writeUInt16BE(source.port & 0xffff, 12);
  return Buffer.concat([line, bin]);
}

export function encodeRtpDumpPacket(offsetMs: number, data: Buffer, isRtcp = false): Buffer {
  if (data.length > 0xffff - 8)
    throw new RangeError(`packet of ${data.length} bytes is too large for rtpdump`);
  const head = Buffer.alloc(8);
  head.writeUInt16BE(data.length + 8, 0);
  head.writeUInt16BE(isRtcp ? 0 : data.length, 2);
  head.writeUInt32BE(Math.max(0, Math.round(offsetMs)) >>> 0, 4);
  return Buffer.concat([head, data]);
}

/** Parses an rtpdump file; throws a clear error on anything that is not one. */
export function parseRtpDump(file: Buffer): RtpDump {
  const newline = file.indexOf(0x0a);
  const line = newline > 0 ? file.subarray(0, newline).toString('ascii') : '';
  if (!line.startsWith(MAGIC)) throw new Error('not an rtpdump file: it must start with "#!rtpplay1.0 "');
  const [ip = '0.0.0.0', port = '0'] = line.slice(MAGIC.length).trim().split('/');
  let offset = newline + 1;
  if (file.length < offset + 16) throw new Error('truncated rtpdump file: no binary header');
  const startMs = file.readUInt32BE(offset) * 1000 + Math.floor(file.readUInt32BE(offset + 4) / 1000);
  offset += 16;
  const packets: RtpDumpPacket[] = [];
  while (offset + 8 <= file.length) {
    const length = file.readUInt16BE(offset);
    const plen = file.readUInt16BE(offset + 2);
    const offsetMs = file.readUInt32BE(offset + 4);
    if (length < 8 || offset + length > file.length)
      throw new Error(`corrupt rtpdump record at byte ${offset} (length ${length})`);
    packets.push({
      offsetMs,
      data: Buffer.from(file.subarray(offset + 8, offset + length)),
      isRtcp: plen === 0,
    });
    offset += length;
  }
  return { startMs, source: { ip, port: Number(port) }, packets };
}
