import {
  InterceptingCall,
  type Interceptor,
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import type { InternalTokens } from '../auth/internal';

const HEADER = 'authorization';
/** The verified caller's subject, added to the call's metadata for handlers that want to know who called. */
export const CALLER_HEADER = 'x-meetview-caller';

/**
 * Refuses every call to this server that lacks a valid internal token ("authorization: Bearer <jwt>")
 * with UNAUTHENTICATED, before any handler runs.
 */
export function internalAuthServerInterceptor(tokens: InternalTokens): ServerInterceptor {
  return (_methodDescriptor, call) =>
    new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const value = metadata.get(HEADER)[0];
            const token =
              typeof value === 'string' && value.startsWith('Bearer ') ? value.slice(7) : undefined;
            tokens.verify(token).then(
              (claims) => {
                metadata.set(CALLER_HEADER, claims.subject);
                mdNext(metadata);
              },
              (err: Error) =>
                call.sendStatus({
                  code: status.UNAUTHENTICATED,
                  details: `internal call refused: ${err.message}`,
                  metadata: new Metadata(),
                }),
            );
          },
        });
      },
    });
}

/** Adds a fresh internal token for `subject` to every call of a client. */
export function internalAuthClientInterceptor(tokens: InternalTokens, subject: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        tokens.current(subject).then(
          (token) => {
            metadata.set(HEADER, `Bearer ${token}`);
            next(metadata, listener);
          },
          (err: Error) => {
            // A token we cannot sign is a local fault; fail the call rather than send it unauthenticated.
            listener.onReceiveStatus?.({
              code: status.INTERNAL,
              details: `cannot sign an internal token: ${err.message}`,
              metadata: new Metadata(),
            });
          },
        );
      },
    });
}
