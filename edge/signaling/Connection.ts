import type { ParticipantClaims } from '../../lib/auth/tokens';
import { CloseCode, ErrorCode, SignalingError } from '../../proto/signaling/errors';
import {
  isMethod,
  MAX_FRAME_BYTES,
  type NotificationMethod,
  type Notifications,
  type RequestData,
  type ResponseFrame,
  requestFrame,
  requestSchemas,
} from '../../proto/signaling/messages';
import type { Conference } from '../conference/Conference';
import type { ConferenceManager } from '../conference/ConferenceManager';
import type { Participant, ParticipantLink } from '../conference/Participant';
import type { PreparedMedia } from '../conference/PreparedMedia';
import { handlers } from './handlers';
import { RateLimiter } from './RateLimiter';

/** The parts of a WebSocket a Connection uses (ws's WebSocket and Hono's WSContext both fit). */
export interface SocketLike {
  /** Sends one text frame; a Buffer holds its UTF-8 bytes (encoded once for many sockets). */
  send(text: string | Buffer): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  /** Requests per second and burst, per socket. */
  rate: { perSecond: number; burst: number };
  /** Builds the URL a redirected client connects to, for the node that is the room's home. */
  redirectUrl: (nodeUrl: string) => string;
}

type Id = number | string | null;

/**
 * One participant's WebSocket. It validates every frame (size, JSON, schema, rate), dispatches requests
 * to the handlers, and answers each with exactly one response; a bad frame gets an error response and
 * touches nothing else. It is the participant's link for notifications while attached.
 */
export class Connection implements ParticipantLink {
  readonly #socket: SocketLike;
  readonly #claims: ParticipantClaims;
  readonly #manager: ConferenceManager;
  readonly #opts: ConnectionOptions;
  readonly #limiter: RateLimiter;
  #conference: Conference | undefined;
  #participant: Participant | undefined;
  /** Transports made by `prepare`, owned here until the join adopts them. */
  #prepared: Promise<PreparedMedia> | undefined;
  /** The client reads a JSON array of chat.message notifications as one frame (join's `chatBatches`). */
  #chatBatches = false;
  /** chat.message notifications waiting for this turn's frame (with chatBatches). */
  #chatQueue: object[] = [];
  #closed = false;

  constructor(
    socket: SocketLike,
    claims: ParticipantClaims,
    manager: ConferenceManager,
    opts: ConnectionOptions,
  ) {
    this.#socket = socket;
    this.#claims = claims;
    this.#manager = manager;
    this.#opts = opts;
    this.#limiter = new RateLimiter(opts.rate.perSecond, opts.rate.burst);
  }

  notify<M extends NotificationMethod>(method: M, data: Notifications[M]): void {
    if (method !== 'chat.message') {
      this.#send({ method, data });
      return;
    }
    if (!this.#chatBatches) {
      this.#sendText(chatFrame(data));
      return;
    }
    // The messages of one Kafka batch go out together, as one frame, once this turn's deliveries are done.
    if (this.#chatQueue.length === 0) setImmediate(() => this.#flushChat());
    this.#chatQueue.push(data);
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close(code, reason.slice(0, 120));
  }

  async onMessage(raw: string | ArrayBuffer | Buffer | Blob | Buffer[], byteLength: number): Promise<void> {
    if (this.#closed) return;
    if (typeof raw !== 'string')
      return this.#reply(
        null,
        new SignalingError(ErrorCode.BadRequest, 'binary frames are not accepted; send JSON text'),
      );
    if (byteLength > MAX_FRAME_BYTES)
      return this.#reply(
        leadingId(raw),
        new SignalingError(ErrorCode.TooLarge, `frame of ${byteLength} bytes exceeds ${MAX_FRAME_BYTES}`),
      );
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return this.#reply(null, new SignalingError(ErrorCode.BadRequest, 'frame is not valid JSON'));
    }
    const frame = requestFrame.safeParse(json);
    if (!frame.success) {
      const id = (json as { id?: unknown })?.id;
      return this.#reply(
        typeof id === 'number' || typeof id === 'string' ? id : null,
        new SignalingError(ErrorCode.BadRequest, `not a request frame: ${issues(frame.error)}`),
      );
    }
    const { id, method, data } = frame.data;
    if (!this.#limiter.take())
      return this.#reply(id, new SignalingError(ErrorCode.RateLimited, 'too many requests; slow down'));
    if (!isMethod(method))
      return this.#reply(id, new SignalingError(ErrorCode.UnknownMethod, `unknown method "${method}"`));
    const parsed = requestSchemas[method].safeParse(data ?? {});
    if (!parsed.success)
      return this.#reply(
        id,
        new SignalingError(ErrorCode.BadRequest, `invalid ${method} data: ${issues(parsed.error)}`),
      );
    try {
      if (method === 'join') {
        const result = await this.#join(parsed.data as RequestData<'join'>);
        this.#reply(id, null, result);
      } else if (method === 'prepare') {
        this.#reply(id, null, await this.#prepare(parsed.data as RequestData<'prepare'>));
      } else if (method === 'transport.connect' && !this.#participant && this.#prepared) {
        const d = parsed.data as RequestData<'transport.connect'>;
        await this.#conference!.connectPrepared(await this.#prepared, d.transportId, d.dtlsParameters);
        this.#reply(id, null, {});
      } else {
        this.#reply(id, null, await this.#dispatch(method, parsed.data));
        if (method === 'leave') this.close(CloseCode.Left, 'left');
      }
    } catch (err) {
      this.#reply(id, err);
    } finally {
      // Notifications held while the join was answered follow the response, never precede it.
      if (method === 'join') this.#participant?.release();
    }
  }

  /** The socket closed: a joined participant is kept for the grace period. */
  onClose(): void {
    this.#closed = true;
    if (this.#conference && this.#participant) this.#conference.detach(this.#participant, this);
    else this.#discardPrepared();
  }

  /** Makes this connection's transports ahead of its join (see the `prepare` request). */
  async #prepare({ rtpCapabilities }: RequestData<'prepare'>) {
    if (this.#participant) throw new SignalingError(ErrorCode.BadRequest, 'prepare comes before the join');
    if (this.#prepared) throw new SignalingError(ErrorCode.BadRequest, 'already prepared on this connection');
    const conference = await this.#placed();
    this.#conference = conference;
    const prepared = conference.prepareMedia(this.#claims, rtpCapabilities);
    this.#prepared = prepared;
    let media: PreparedMedia;
    try {
      media = await prepared;
    } catch (err) {
      this.#prepared = undefined;
      throw err;
    }
    // The socket closed while they were made: nobody will join with them.
    if (this.#closed) this.#discardPrepared();
    return {
      routerRtpCapabilities: conference.rtpCapabilities,
      transports: media.transports,
      ...(media.warmup ? { warmup: media.warmup } : {}),
      consumers: media.consumers,
      participants: media.participants,
    };
  }

  #discardPrepared(): void {
    const prepared = this.#prepared;
    const conference = this.#conference;
    this.#prepared = undefined;
    if (prepared && conference)
      void prepared.then(
        (m) => conference.discardPrepared(m),
        () => undefined,
      );
  }

  /** The room's conference on this edge; a room served by another edge of the region redirects the client there. */
  async #placed(): Promise<Conference> {
    const placement = await this.#manager.place(this.#claims.room);
    if (placement.kind === 'redirect') {
      this.notify('session.redirect', {
        url: this.#opts.redirectUrl(placement.node.url),
        node: placement.node.id,
      });
      setImmediate(() => this.close(CloseCode.Redirect, `room is served by ${placement.node.id}`));
      throw new SignalingError(
        ErrorCode.Unavailable,
        `room ${this.#claims.room} is served by ${placement.node.id}`,
      );
    }
    return placement.conference;
  }

  async #join({ lastMessageId, rtpCapabilities, spatialLayer, chatBatches }: RequestData<'join'>) {
    if (this.#participant && !this.#participant.left)
      throw new SignalingError(ErrorCode.BadRequest, 'already joined on this connection');
    const conference = await this.#placed();
    // Transports prepared on this connection go to the participant (the same room's conference: the
    // placement of a room does not move while it has people in it).
    let prepared: PreparedMedia | undefined;
    if (this.#conference === conference) prepared = await this.#prepared?.catch(() => undefined);
    else this.#discardPrepared();
    this.#prepared = undefined;
    this.#conference = conference;
    this.#chatBatches = chatBatches === true;
    try {
      return await conference.join(this.#claims, this, {
        lastMessageId,
        rtpCapabilities,
        spatialLayer,
        preparedMedia: prepared,
      });
    } finally {
      this.#participant = conference.participant(this.#claims.identity);
      // The socket went away while the join was in flight: start the grace period now, or the
      // participant would stay attached to a dead socket.
      if (this.#closed && this.#participant) conference.detach(this.#participant, this);
    }
  }

  async #dispatch<M extends Exclude<keyof typeof handlers, never>>(method: M, data: unknown) {
    const conference = this.#conference;
    const participant = this.#participant;
    if (!conference || !participant || participant.left)
      throw new SignalingError(ErrorCode.NotJoined, `join before ${method}`);
    const handler = handlers[method] as (ctx: unknown, d: RequestData<M>) => unknown;
    return handler({ conference, participant }, data as RequestData<M>);
  }

  #reply(id: Id, error: unknown, data?: unknown): void {
    if (error === null) {
      this.#send({ id, ok: true, data: data ?? {} } as ResponseFrame);
      return;
    }
    let e: SignalingError;
    if (error instanceof SignalingError) e = error;
    else {
      console.error('[edge] request failed:', error);
      e = new SignalingError(ErrorCode.Internal, 'internal error; the request was not carried out');
    }
    this.#send({ id, ok: false, error: { code: e.code, message: e.message } });
  }

  #send(frame: unknown): void {
    if (this.#closed) return;
    // Chat waiting for its frame was notified first: it goes first.
    this.#flushChat();
    this.#sendText(JSON.stringify(frame));
  }

  #flushChat(): void {
    const queue = this.#chatQueue;
    if (queue.length === 0) return;
    this.#chatQueue = [];
    this.#sendText(queue.length === 1 ? chatFrame(queue[0]!) : chatBatchFrame(queue));
  }

  #sendText(text: string | Buffer): void {
    if (this.#closed) return;
    try {
      this.#socket.send(text);
    } catch {
      // The socket is going away; its close event does the cleanup.
    }
  }
}

/**
 * chat.message frames by message object, encoded once for all the sockets of its room (delivered
 * messages are never changed after they are made).
 */
const chatFrames = new WeakMap<object, Buffer>();

function chatFrame(data: object): Buffer {
  let frame = chatFrames.get(data);
  if (frame === undefined) {
    frame = Buffer.from(JSON.stringify({ method: 'chat.message', data }));
    chatFrames.set(data, frame);
  }
  return frame;
}

/**
 * Batch frames by their first message. The members of a room receive the same messages in a turn, so
 * they share one frame; someone with a direct message in between gets one of their own (a few are kept).
 */
const chatBatchFrames = new WeakMap<object, { messages: object[]; frame: Buffer }[]>();
const BATCH_FRAMES_PER_FIRST = 4;
const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

function chatBatchFrame(messages: object[]): Buffer {
  const first = messages[0]!;
  let kept = chatBatchFrames.get(first);
  const hit = kept?.find(
    (k) => k.messages.length === messages.length && k.messages.every((m, i) => m === messages[i]),
  );
  if (hit) return hit.frame;
  const parts: Buffer[] = [OPEN];
  for (const m of messages) parts.push(chatFrame(m), COMMA);
  parts[parts.length - 1] = CLOSE;
  const frame = Buffer.concat(parts);
  if (!kept) {
    kept = [];
    chatBatchFrames.set(first, kept);
  }
  if (kept.length === BATCH_FRAMES_PER_FIRST) kept.shift();
  kept.push({ messages, frame });
  return frame;
}

// The id of an oversized frame, read from its start without parsing the whole frame.
function leadingId(raw: string): Id {
  const m = /^\s*\{\s*"id"\s*:\s*(\d{1,15}|"[^"\\]{1,64}")/.exec(raw.slice(0, 100));
  if (!m?.[1]) return null;
  return m[1].startsWith('"') ? m[1].slice(1, -1) : Number(m[1]);
}

function issues(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
