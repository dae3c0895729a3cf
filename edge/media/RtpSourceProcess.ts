import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

export type RtpSourceTarget = { ip: string; port: number; ssrc: number; payloadType?: number };

/**
 * An external RTP sender (GStreamer's gst-launch-1.0 or ffmpeg) sending a synthetic live stream to a
 * PlainRtpEndpoint. Owns the child process: stop() ends it. Fails with what to install when the tool
 * is missing.
 */
export class RtpSourceProcess {
  readonly command: string;
  readonly args: string[];
  readonly #child: ChildProcess;
  #stderr = '';
  #exited = false;

  /** videotestsrc → vp8enc (key frame every 30 frames) → rtpvp8pay → udpsink. */
  static gstreamerVp8(
    target: RtpSourceTarget,
    options: { width?: number; height?: number; fps?: number } = {},
  ): RtpSourceProcess {
    const { width = 320, height = 240, fps = 30 } = options;
    return new RtpSourceProcess('gst-launch-1.0', 'gstreamer1.0-tools gstreamer1.0-plugins-good', [
      '-q',
      'videotestsrc',
      'is-live=true',
      'pattern=ball',
      '!',
      `video/x-raw,width=${width},height=${height},framerate=${fps}/1`,
      '!',
      'vp8enc',
      'deadline=1',
      'cpu-used=8',
      `keyframe-max-dist=${fps}`,
      'target-bitrate=400000',
      '!',
      'rtpvp8pay',
      `pt=${target.payloadType ?? 96}`,
      `ssrc=${target.ssrc}`,
      'mtu=1200',
      'picture-id-mode=15-bit',
      '!',
      'udpsink',
      `host=${target.ip}`,
      `port=${target.port}`,
      'sync=false',
      'async=false',
    ]);
  }

  /** audiotestsrc → level → opusenc → rtpopuspay with the ssrc-audio-level extension (id 1) → udpsink. */
  static gstreamerOpus(target: RtpSourceTarget): RtpSourceProcess {
    const packages = 'gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good';
    return new RtpSourceProcess('gst-launch-1.0', packages, [
      '-q',
      ...['audiotestsrc', 'is-live=true', 'wave=sine', 'volume=0.5'],
      ...['!', 'audio/x-raw,rate=48000,channels=2'],
      // `level` attaches the audio level to each buffer; the payloader writes it as RFC 6464.
      ...['!', 'level', 'audio-level-meta=true'],
      ...['!', 'opusenc', 'inband-fec=true'],
      ...['!', 'rtpopuspay', `pt=${target.payloadType ?? 111}`, `ssrc=${target.ssrc}`],
      // Downstream caps that ask the payloader for the audio-level header extension as id 1.
      ...[
        '!',
        'application/x-rtp,extmap-1=(string)<"",urn:ietf:params:rtp-hdrext:ssrc-audio-level,"vad=on">',
      ],
      ...['!', 'udpsink', `host=${target.ip}`, `port=${target.port}`, 'sync=false', 'async=false'],
    ]);
  }

  /** ffmpeg's lavfi test source → libvpx VP8 → RTP. */
  static ffmpegVp8(target: RtpSourceTarget): RtpSourceProcess {
    return new RtpSourceProcess('ffmpeg', 'ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=30',
      '-c:v',
      'libvpx',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-b:v',
      '400k',
      '-g',
      '30',
      '-ssrc',
      String(target.ssrc),
      '-payload_type',
      String(target.payloadType ?? 96),
      '-f',
      'rtp',
      `rtp://${target.ip}:${target.port}?pkt_size=1200`,
    ]);
  }

  private constructor(command: string, debianPackages: string, args: string[]) {
    const probe = spawnSync(command, ['--version'], { stdio: 'ignore' });
    if (probe.error)
      throw new Error(
        `${command} is not installed: \`apt-get install ${debianPackages}\` (${probe.error.message})`,
      );
    this.command = command;
    this.args = args;
    this.#child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    this.#child.once('exit', () => {
      this.#exited = true;
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process ended (a pipeline error ends it: see stderr). */
  get exited(): boolean {
    return this.#exited;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Ends the process (SIGINT, then SIGKILL after 2 s) and waits for it. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill('SIGINT');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}
