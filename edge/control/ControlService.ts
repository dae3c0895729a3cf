import { Metadata, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { CALLER_HEADER } from '../../lib/grpc/internalAuth';
import {
  type ControlServiceServer,
  ControlServiceService,
} from '../../proto/gen/meetview/control/v1/control';
import { ErrorCode, SignalingError } from '../../proto/signaling/errors';
import type { Conference } from '../conference/Conference';
import type { ConferenceManager } from '../conference/ConferenceManager';
import type { WorkerPool } from '../media/WorkerPool';

/** Only the core steers an edge; other edges hold internal tokens too, but for Cascade. */
const ALLOWED_CALLER = 'core';
/** Producer stats for the bitrate figure are read with this budget; a slow worker is left out. */
const STATS_BUDGET_MS = 1000;

export { ControlServiceService };

/** A gRPC error with a status code, as the handlers answer it. */
class ControlError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The edge's Control service: what the core's Admin API asks of the node that holds a room or a
 * participant. Registered on the edge's internal gRPC server (internal token required); it acts only
 * for the caller "core".
 */
export function createControlService(target: {
  manager: ConferenceManager;
  pool: WorkerPool;
}): ControlServiceServer {
  const { manager, pool } = target;
  return {
    removeParticipant: unary(async (req) => {
      const conference = room(manager, req.room);
      const reason = req.reason.trim() || 'removed by an operator';
      if (!(await conference.remove(req.identity, reason)))
        throw new ControlError(
          status.NOT_FOUND,
          `no participant "${req.identity}" in room "${req.room}" on ${manager.node}`,
        );
      return {};
    }),
    muteTrack: unary(async (req) => {
      const conference = room(manager, req.room);
      const p = participant(conference, req.identity, manager.node);
      if (req.muted) await conference.pauseProducer(p, req.producerId);
      else await conference.resumeProducer(p, req.producerId);
      p.notify('track.muted', { producerId: req.producerId, muted: req.muted });
      return {};
    }),
    updateGrants: unary(async (req) => {
      const conference = room(manager, req.room);
      const p = participant(conference, req.identity, manager.node);
      if (!req.grants) throw new ControlError(status.INVALID_ARGUMENT, 'grants are required');
      // Checked on every request, so the change applies to the participant's next action.
      p.grants = { ...req.grants };
      return {};
    }),
    closeRoom: unary(async (req) => {
      const conference = room(manager, req.room);
      const participants = conference.participantCount;
      conference.close(req.reason.trim() || 'closed by an operator');
      return { participants };
    }),
    drain: unary(async (req) => {
      manager.draining = req.draining;
      return {};
    }),
    sendSystemMessage: unary(async (req) => {
      const conference = room(manager, req.room);
      if (!req.text.trim()) throw new ControlError(status.INVALID_ARGUMENT, 'text is empty');
      return { messageId: await conference.systemMessage(req.text) };
    }),
    getLoad: unary(async () => {
      const workers = pool.workers();
      return {
        workerCpu: workers.reduce((sum, w) => sum + w.cpuPercent, 0),
        bitrateBps: await incomingBitrate(pool),
        workers: workers.length,
      };
    }),
  };
}

function room(manager: ConferenceManager, name: string): Conference {
  if (!name) throw new ControlError(status.INVALID_ARGUMENT, 'room is required');
  const conference = manager.get(name);
  if (!conference || conference.closed)
    throw new ControlError(status.NOT_FOUND, `room "${name}" is not on ${manager.node}`);
  return conference;
}

function participant(conference: Conference, identity: string, node: string) {
  const p = conference.participant(identity);
  if (!p)
    throw new ControlError(
      status.NOT_FOUND,
      `no participant "${identity}" in room "${conference.name}" on ${node}`,
    );
  return p;
}

async function incomingBitrate(pool: WorkerPool): Promise<number> {
  const reads: Promise<number>[] = [];
  for (const r of pool.rooms())
    for (const producer of r.producers())
      reads.push(
        r.getProducerStats(producer.id).then((stats) => stats.reduce((sum, s) => sum + (s.bitrate ?? 0), 0)),
      );
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), STATS_BUDGET_MS).unref(),
  );
  const settled = await Promise.race([Promise.allSettled(reads), timeout]);
  if (settled === 'timeout') return 0;
  return Math.round(settled.reduce((sum, s) => sum + (s.status === 'fulfilled' ? s.value : 0), 0));
}

/** Wraps a handler: checks the caller, maps thrown errors to gRPC statuses with a useful message. */
function unary<Req, Res>(fn: (req: Req) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const caller = call.metadata.get(CALLER_HEADER)[0];
    if (caller !== ALLOWED_CALLER) {
      callback({
        code: status.PERMISSION_DENIED,
        details: `Control is for the core; caller "${String(caller ?? '')}" may not use it`,
        metadata: new Metadata(),
      });
      return;
    }
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) =>
        callback({ code: grpcCode(err), details: (err as Error).message, metadata: new Metadata() }),
    );
  };
}

function grpcCode(err: unknown): status {
  if (err instanceof ControlError) return err.code;
  if (err instanceof SignalingError)
    switch (err.code) {
      case ErrorCode.NotFound:
        return status.NOT_FOUND;
      case ErrorCode.BadRequest:
        return status.INVALID_ARGUMENT;
      case ErrorCode.Forbidden:
        return status.PERMISSION_DENIED;
      case ErrorCode.Closed:
        return status.FAILED_PRECONDITION;
      case ErrorCode.Unavailable:
        return status.UNAVAILABLE;
      default:
        return status.INTERNAL;
    }
  return status.INTERNAL;
}
