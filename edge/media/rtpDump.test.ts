import { describe, expect, it } from 'vitest';
import { encodeRtpDumpHeader, encodeRtpDumpPacket, parseRtpDump } from './rtpDump';

function rtp(seq: number, ssrc: number): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0x80;
  b[1] = 96;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 3000, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

describe('rtpdump', () => {
  it('round-trips packets, offsets, RTCP flags and the source', () => {
    const start = 1_700_000_000_123;
    const file = Buffer.concat([
      encodeRtpDumpHeader(start, { ip: '127.0.0.1', port: 5004 }),
      encodeRtpDumpPacket(0, rtp(1, 42)),
      encodeRtpDumpPacket(33.4, rtp(2, 42)),
      encodeRtpDumpPacket(40, Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 42]), true),
    ]);
    const dump = parseRtpDump(file);
    expect(dump.startMs).toBe(start);
    expect(dump.source).toEqual({ ip: '127.0.0.1', port: 5004 });
    expect(dump.packets.map((p) => [p.offsetMs, p.isRtcp, p.data.length])).toEqual([
      [0, false, 20],
      [33, false, 20],
      [40, true, 8],
    ]);
    expect(dump.packets[1]!.data.equals(rtp(2, 42))).toBe(true);
  });

  it('rejects a file that is not rtpdump', () => {
    expect(() => parseRtpDump(Buffer.from('hello\n'))).toThrow(/not an rtpdump file/);
  });

  it('rejects a truncated record', () => {
    const file = Buffer.concat([
      encodeRtpDumpHeader(0, { ip: '0.0.0.0', port: 0 }),
      encodeRtpDumpPacket(0, rtp(1, 1)).subarray(0, 15),
    ]);
    expect(() => parseRtpDump(file)).toThrow(/corrupt rtpdump record/);
  });
});
