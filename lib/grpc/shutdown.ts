import type { Server } from '@grpc/grpc-js';

/** Lets calls under way finish for up to `graceMs`, then cuts whatever is left (server streams never end). */
export function shutdownGrpcServer(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
