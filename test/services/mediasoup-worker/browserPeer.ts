// Runs inside headless Chromium (bundled with mediasoup-client by esbuild): a WebRTC peer that
// sends its fake camera and microphone to a mediasoup WebRtcTransport and receives them back.
// The test drives it through window.peer; `signal` is the test's exposed server function.
import { Device, type types } from 'mediasoup-client';

export interface TransportOptions {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
}

export interface InboundVideoStats {
  framesDecoded: number;
  packetsReceived: number;
  bytesReceived: number;
}

declare global {
  interface Window {
    signal(method: string, data: unknown): Promise<unknown>;
    peer: typeof peer;
  }
}

let device: Device | undefined;
let sendTransport: types.Transport | undefined;
let recvTransport: types.Transport | undefined;
const consumers = new Map<string, types.Consumer>();

function wire(transport: types.Transport): void {
  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    window.signal('connect', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
  });
}

const peer = {
  /** Loads the device, opens both transports and produces camera + microphone. */
  async start(
    routerRtpCapabilities: types.RtpCapabilities,
    send: TransportOptions,
    recv: TransportOptions,
  ): Promise<types.RtpCapabilities> {
    device = new Device({ handlerName: 'Chrome111' });
    await device.load({ routerRtpCapabilities });
    sendTransport = device.createSendTransport(send);
    wire(sendTransport);
    sendTransport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
      window.signal('produce', { kind, rtpParameters }).then((id) => callback({ id: id as string }), errback);
    });
    recvTransport = device.createRecvTransport(recv);
    wire(recvTransport);

    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 320, height: 240, frameRate: 30 },
    });
    await sendTransport.produce({ track: stream.getVideoTracks()[0]! });
    await sendTransport.produce({ track: stream.getAudioTracks()[0]! });
    return device.rtpCapabilities;
  },

  async consume(options: {
    id: string;
    producerId: string;
    kind: 'audio' | 'video';
    rtpParameters: types.RtpParameters;
  }): Promise<void> {
    if (!recvTransport) throw new Error('start() first');
    const consumer = await recvTransport.consume(options);
    consumers.set(consumer.id, consumer);
    // A playing element is the sink that makes Chromium decode and render what it receives.
    const element = document.createElement(options.kind);
    element.muted = true;
    element.autoplay = true;
    element.srcObject = new MediaStream([consumer.track]);
    document.body.append(element);
    // Not awaited: play() resolves only once media arrives, and the server resumes the consumer
    // after this returns.
    void element.play().catch(() => undefined);
  },

  connectionStates(): { send: string; recv: string } {
    return {
      send: sendTransport?.connectionState ?? 'none',
      recv: recvTransport?.connectionState ?? 'none',
    };
  },

  async inboundStats(consumerId: string): Promise<InboundVideoStats> {
    const consumer = consumers.get(consumerId);
    if (!consumer) throw new Error(`no consumer ${consumerId}`);
    const result: InboundVideoStats = { framesDecoded: 0, packetsReceived: 0, bytesReceived: 0 };
    (await consumer.getStats()).forEach((report) => {
      if (report.type !== 'inbound-rtp') return;
      result.framesDecoded += report.framesDecoded ?? 0;
      result.packetsReceived += report.packetsReceived ?? 0;
      result.bytesReceived += report.bytesReceived ?? 0;
    });
    return result;
  },

  close(): void {
    for (const consumer of consumers.values()) consumer.close();
    sendTransport?.close();
    recvTransport?.close();
  },
};

window.peer = peer;
