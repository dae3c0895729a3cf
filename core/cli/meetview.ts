import { parseArgs } from 'node:util';
import { credentials, InterceptingCall, type Interceptor, type ServiceError, status } from '@grpc/grpc-js';
import {
  AdminServiceClient,
  CreateTokenResponse,
  GetRoomResponse,
  type Grants,
  ListNodesResponse,
  ListParticipantsResponse,
  ListRegionsResponse,
  RoomSummary,
  SendSystemMessageResponse,
  WatchEventsResponse,
} from '../../proto/gen/meetview/admin/v1/admin';
import type { Envelope } from '../../proto/gen/meetview/events/v1/events';
import { signApiToken } from '../auth/ApiKeys';

const USAGE = `meetview — operate Meetview through its Admin API (every region at once)

usage: meetview <command> [arguments] [options]

  token create --room <r> --identity <i> [--name <n>] [--grants join,publish,subscribe,chat,files,admin] [--ttl <s>]
  regions                           the regions and the core
  nodes [--region <r>]              edges with their load
  rooms [--limit <n>]               rooms across all regions (every page; --limit caps the count)
  room <room>                       one room's counts, regions and nodes
  participants <room>               who is in a room, where, and their tracks
  kick <room> <identity> [--reason <text>]   remove a participant (the reason is shown to them)
  mute <room> <identity> <producerId> [--unmute]
  close <room> [--reason <text>]    end a room for everyone, in every region
  drain <node> [--undo]             the node takes no new rooms (its rooms go on); --undo reverts
  say <room> <text…>                a system message into the room's chat
  events [--room <r>] [--after <position>]   follow room events from every region (Ctrl-C stops)

options:
  --server <host:port>   Admin API address        (env MEETVIEW_ADMIN, default 127.0.0.1:21040)
  --key <id>             API key                   (env MEETVIEW_API_KEY)
  --secret <secret>      API secret                (env MEETVIEW_API_SECRET; prefer the env over the flag)
  --json                 machine-readable output (one JSON document; events: one per line)
  --timeout <ms>         deadline of each call (default 10000)

exit codes: 0 ok, 1 other failure, 2 bad usage, 3 refused credentials or scope, 4 not found,
            5 Admin API unreachable or too slow, 6 invalid argument (per the server)`;

const EXIT = { ok: 0, failure: 1, usage: 2, auth: 3, notFound: 4, unavailable: 5, invalid: 6 } as const;

class UsageError extends Error {}

type Values = {
  server?: string;
  key?: string;
  secret?: string;
  json?: boolean;
  timeout?: string;
  room?: string;
  identity?: string;
  name?: string;
  grants?: string;
  ttl?: string;
  region?: string;
  limit?: string;
  reason?: string;
  unmute?: boolean;
  undo?: boolean;
  after?: string;
  help?: boolean;
};

async function main(argv: string[]): Promise<number> {
  let parsed: { positionals: string[]; values: Values };
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        key: { type: 'string' },
        secret: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        room: { type: 'string' },
        identity: { type: 'string' },
        name: { type: 'string' },
        grants: { type: 'string' },
        ttl: { type: 'string' },
        region: { type: 'string' },
        limit: { type: 'string' },
        reason: { type: 'string' },
        unmute: { type: 'boolean' },
        undo: { type: 'boolean' },
        after: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }) as { positionals: string[]; values: Values };
  } catch (err) {
    console.error(`${(err as Error).message}\n\nRun \`meetview --help\` for the commands.`);
    return EXIT.usage;
  }
  const { positionals, values } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command) {
    (command || values.help ? console.log : console.error)(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  try {
    const api = connect(values);
    try {
      return await run(api, command, args, values);
    } finally {
      api.close();
    }
  } catch (err) {
    return report(err, values);
  }
}

interface Api {
  client: AdminServiceClient;
  timeoutMs: number;
  server: string;
  close(): void;
}

function connect(values: Values): Api {
  const server = values.server ?? process.env.MEETVIEW_ADMIN ?? '127.0.0.1:21040';
  const key = values.key ?? process.env.MEETVIEW_API_KEY;
  const secret = values.secret ?? process.env.MEETVIEW_API_SECRET;
  if (!key || !secret)
    throw new UsageError(
      "no API key: set MEETVIEW_API_KEY and MEETVIEW_API_SECRET (or --key/--secret); `npm start` prints the local mesh's",
    );
  const timeoutMs = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new UsageError('--timeout: a positive number of ms');
  // A fresh short-lived token per call, signed with the secret; the secret itself is never sent.
  const auth: Interceptor = (options, next) =>
    new InterceptingCall(next(options), {
      start: (metadata, listener, nextStart) => {
        signApiToken(key, secret, 300).then((token) => {
          metadata.set('authorization', `Bearer ${token}`);
          nextStart(metadata, listener);
        });
      },
    });
  const client = new AdminServiceClient(server, credentials.createInsecure(), { interceptors: [auth] });
  return { client, timeoutMs, server, close: () => client.close() };
}

/** Calls a unary method with the deadline; resolves with the response. */
function call<Req, Res>(api: Api, method: string, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (api.client as unknown as Record<string, (...a: unknown[]) => void>)[method]!;
    fn.call(
      api.client,
      req,
      { deadline: Date.now() + api.timeoutMs },
      (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
    );
  });
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}; see \`meetview --help\``);
  return value;
}

async function run(api: Api, command: string, args: string[], v: Values): Promise<number> {
  const json = v.json === true;
  const out = (doc: unknown, human: () => string) =>
    console.log(json ? JSON.stringify(doc, null, 2) : human());
  switch (command) {
    case 'token': {
      if (args[0] !== 'create')
        throw new UsageError('usage: meetview token create --room <r> --identity <i>');
      const grants = v.grants === undefined ? undefined : parseGrants(v.grants);
      const ttl = v.ttl === undefined ? 0 : Number(v.ttl);
      if (!Number.isInteger(ttl) || ttl < 0) throw new UsageError('--ttl: a whole number of seconds');
      const res = await call<object, CreateTokenResponse>(api, 'createToken', {
        room: need(v.room, '--room'),
        identity: need(v.identity, '--identity'),
        name: v.name ?? '',
        grants,
        ttlSeconds: ttl,
      });
      out(
        CreateTokenResponse.toJSON(res),
        () => `${res.token}\n(expires ${new Date(res.expiresAtMs).toISOString()})`,
      );
      return EXIT.ok;
    }
    case 'regions': {
      const res = await call<object, ListRegionsResponse>(api, 'listRegions', {});
      out(ListRegionsResponse.toJSON(res), () =>
        table(
          ['REGION', 'NAME', 'KIND'],
          res.regions.map((r) => [r.id, r.displayName, r.kind]),
        ),
      );
      return EXIT.ok;
    }
    case 'nodes': {
      const res = await call<object, ListNodesResponse>(api, 'listNodes', { region: v.region ?? '' });
      out(ListNodesResponse.toJSON(res), () =>
        table(
          ['NODE', 'REGION', 'ROOMS', 'PEOPLE', 'TRACKS', 'CPU%', 'BITRATE', 'STATE', 'URL'],
          res.nodes.map((n) => [
            n.id,
            n.region,
            String(n.load?.rooms ?? 0),
            String(n.load?.participants ?? 0),
            String(n.load?.tracks ?? 0),
            (n.load?.workerCpu ?? 0).toFixed(1),
            bitrate(n.load?.bitrateBps ?? 0),
            n.draining ? 'draining' : 'active',
            n.url,
          ]),
        ),
      );
      return EXIT.ok;
    }
    case 'rooms': {
      const limit = v.limit === undefined ? Number.POSITIVE_INFINITY : Number(v.limit);
      if (!(limit > 0)) throw new UsageError('--limit: a positive number');
      const rooms: RoomSummary[] = [];
      let pageToken = '';
      do {
        const res = await call<object, { rooms: RoomSummary[]; nextPageToken: string }>(api, 'listRooms', {
          pageSize: Math.min(1000, limit - rooms.length),
          pageToken,
        });
        rooms.push(...res.rooms);
        pageToken = res.nextPageToken;
      } while (pageToken && rooms.length < limit);
      out({ rooms: rooms.map((r) => RoomSummary.toJSON(r)) }, () =>
        table(
          ['ROOM', 'PEOPLE', 'TRACKS', 'REGIONS', 'NODES', 'SINCE'],
          rooms.map((r) => [
            r.name,
            String(r.participants),
            String(r.tracks),
            r.regions.join(','),
            r.nodes.join(','),
            new Date(r.createdAtMs).toISOString(),
          ]),
        ),
      );
      return EXIT.ok;
    }
    case 'room': {
      const res = await call<object, GetRoomResponse>(api, 'getRoom', { room: need(args[0], '<room>') });
      const r = res.room!;
      out(GetRoomResponse.toJSON(res), () =>
        [
          `room          ${r.name}`,
          `participants  ${r.participants}`,
          `tracks        ${r.tracks}`,
          `regions       ${r.regions.join(', ')}`,
          `nodes         ${r.nodes.join(', ')}`,
          `since         ${new Date(r.createdAtMs).toISOString()}`,
        ].join('\n'),
      );
      return EXIT.ok;
    }
    case 'participants': {
      const room = need(args[0], '<room>');
      const all: ListParticipantsResponse['participants'] = [];
      let pageToken = '';
      do {
        const res = await call<object, ListParticipantsResponse>(api, 'listParticipants', {
          room,
          pageSize: 1000,
          pageToken,
        });
        all.push(...res.participants);
        pageToken = res.nextPageToken;
      } while (pageToken);
      out(ListParticipantsResponse.toJSON({ participants: all, nextPageToken: '' }), () =>
        table(
          ['IDENTITY', 'NAME', 'REGION', 'NODE', 'TRACKS', 'JOINED'],
          all.map((p) => [
            p.participant?.identity ?? '',
            p.participant?.name ?? '',
            p.participant?.region ?? '',
            p.participant?.node ?? '',
            p.tracks.map((t) => `${t.producerId}${t.paused ? ' (muted)' : ''}`).join(' ') || '-',
            new Date(p.joinedAtMs).toISOString(),
          ]),
        ),
      );
      return EXIT.ok;
    }
    case 'kick': {
      const [room, identity] = [need(args[0], '<room>'), need(args[1], '<identity>')];
      await call(api, 'removeParticipant', { room, identity, reason: v.reason ?? '' });
      out({ removed: { room, identity } }, () => `removed ${identity} from ${room}`);
      return EXIT.ok;
    }
    case 'mute': {
      const [room, identity, producerId] = [
        need(args[0], '<room>'),
        need(args[1], '<identity>'),
        need(args[2], '<producerId>'),
      ];
      const muted = !v.unmute;
      await call(api, 'muteTrack', { room, identity, producerId, muted });
      out(
        { room, identity, producerId, muted },
        () => `${muted ? 'muted' : 'unmuted'} ${producerId} of ${identity}`,
      );
      return EXIT.ok;
    }
    case 'close': {
      const room = need(args[0], '<room>');
      await call(api, 'closeRoom', { room, reason: v.reason ?? '' });
      out({ closed: room }, () => `closed ${room}`);
      return EXIT.ok;
    }
    case 'drain': {
      const node = need(args[0], '<node>');
      await call(api, 'drainNode', { node, undrain: v.undo === true });
      out({ node, draining: !v.undo }, () =>
        v.undo ? `${node} takes new rooms again` : `${node} is draining: no new rooms, its rooms go on`,
      );
      return EXIT.ok;
    }
    case 'say': {
      const room = need(args[0], '<room>');
      const text = need(args.slice(1).join(' '), '<text>');
      const res = await call<object, SendSystemMessageResponse>(api, 'sendSystemMessage', { room, text });
      out(SendSystemMessageResponse.toJSON(res), () => `sent ${res.messageId}`);
      return EXIT.ok;
    }
    case 'events':
      return follow(api, v);
    default:
      throw new UsageError(`unknown command "${command}"; see \`meetview --help\``);
  }
}

/** Follows WatchEvents until Ctrl-C or the stream ends; prints each event's position for resuming. */
function follow(api: Api, v: Values): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = api.client.watchEvents({ room: v.room ?? '', afterPosition: v.after ?? '' });
    let last = '';
    const stop = () => {
      stream.cancel();
      if (!v.json && last) console.error(`\nresume with: meetview events --after ${last}`);
      resolve(EXIT.ok);
    };
    process.once('SIGINT', stop);
    stream.on('data', (res: WatchEventsResponse) => {
      last = res.position;
      if (v.json) console.log(JSON.stringify(WatchEventsResponse.toJSON(res)));
      else console.log(describeEvent(res.envelope!));
    });
    stream.on('error', (err: ServiceError) =>
      err.code === status.CANCELLED ? resolve(EXIT.ok) : reject(err),
    );
    stream.on('end', () => resolve(EXIT.ok));
  });
}

function describeEvent(e: Envelope): string {
  const when = new Date(e.tsMs).toISOString();
  const where = `${e.originRegion}/${e.originNode}`;
  const ev = e.payload?.$case === 'roomEvent' ? e.payload.value.event : undefined;
  let what = 'event';
  switch (ev?.$case) {
    case 'participantJoined':
      what = `${ev.value.participant?.identity} joined`;
      break;
    case 'participantLeft':
      what = `${ev.value.participant?.identity} left (${ev.value.reason})`;
      break;
    case 'trackPublished':
      what = `${ev.value.participant?.identity} published ${ev.value.track?.producerId}`;
      break;
    case 'trackUnpublished':
      what = `${ev.value.participant?.identity} unpublished ${ev.value.producerId}`;
      break;
    case 'trackMuted':
      what = `${ev.value.participant?.identity} ${ev.value.muted ? 'muted' : 'unmuted'} ${ev.value.producerId}`;
      break;
    case 'roomClosed':
      what = `room closed (${ev.value.reason})`;
      break;
  }
  return `${when}  ${e.room.padEnd(20)} ${what.padEnd(40)} ${where}`;
}

const GRANT_NAMES = ['join', 'publish', 'subscribe', 'chat', 'files', 'admin'] as const;

function parseGrants(list: string): Grants {
  const grants: Grants = {
    join: false,
    publish: false,
    subscribe: false,
    chat: false,
    files: false,
    admin: false,
  };
  for (const g of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(GRANT_NAMES as readonly string[]).includes(g))
      throw new UsageError(`--grants: unknown grant "${g}" (one of ${GRANT_NAMES.join(', ')})`);
    grants[g as keyof Grants] = true;
  }
  return grants;
}

function bitrate(bps: number): string {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mb/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(0)} kb/s`;
  return `${bps} b/s`;
}

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return `(none)`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Says what went wrong and what to do; returns the exit code for it. */
function report(err: unknown, v: Values): number {
  if (err instanceof UsageError) {
    console.error(err.message);
    return EXIT.usage;
  }
  const e = err as ServiceError;
  const server = v.server ?? process.env.MEETVIEW_ADMIN ?? '127.0.0.1:21040';
  const detail = e.details || e.message;
  let code: number = EXIT.failure;
  let hint = '';
  switch (e.code) {
    case status.UNAUTHENTICATED:
      code = EXIT.auth;
      hint = 'check the key and secret (MEETVIEW_API_KEY / MEETVIEW_API_SECRET, or --key / --secret)';
      break;
    case status.PERMISSION_DENIED:
      code = EXIT.auth;
      hint = 'use a key with the admin scope for this command';
      break;
    case status.NOT_FOUND:
      code = EXIT.notFound;
      hint = 'list what exists with `meetview rooms`, `meetview participants <room>` or `meetview nodes`';
      break;
    case status.INVALID_ARGUMENT:
    case status.OUT_OF_RANGE:
      code = EXIT.invalid;
      break;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      code = EXIT.unavailable;
      hint = /No connection established|ECONNREFUSED|connect/i.test(detail)
        ? `is the Admin API running at ${server}? (\`npm start\` starts it; set --server or MEETVIEW_ADMIN)`
        : 'retry; if it persists, check the mesh with `npm run mesh -- status`';
      break;
  }
  if (v.json)
    console.error(JSON.stringify({ error: { code: status[e.code] ?? 'UNKNOWN', message: detail } }));
  else console.error(`meetview: ${detail}${hint ? `\n  → ${hint}` : ''}`);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`meetview: ${err.message}`);
    process.exit(EXIT.failure);
  },
);
