import { ToolProcess } from './ToolProcess';

/**
 * ffmpeg sending a live Opus stream as SRTP. ffmpeg implements SRTP itself (libavformat/srtp.c,
 * not libsrtp), so it checks the worker against a second, unrelated implementation.
 */
export class FfmpegSrtpSender extends ToolProcess {
  constructor(
    port: number,
    suite: string,
    keyBase64: string,
    rtp: { payloadType: number; ssrc: number; localRtpPort: number; localRtcpPort: number },
  ) {
    super(`ffmpeg srtp ${suite}`, 'ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'warning',
      '-nostdin',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-ac',
      '2',
      '-c:a',
      'libopus',
      '-b:a',
      '32k',
      '-payload_type',
      String(rtp.payloadType),
      '-ssrc',
      String(rtp.ssrc),
      '-f',
      'rtp',
      '-srtp_out_suite',
      suite,
      '-srtp_out_params',
      keyBase64,
      // RTCP to the same port (the worker multiplexes RTP and RTCP), from fixed local ports.
      `srtp://127.0.0.1:${port}?rtcpport=${port}&localrtpport=${rtp.localRtpPort}&localrtcpport=${rtp.localRtcpPort}`,
    ]);
  }
}
