import { AdminServer } from './AdminServer';
import { loadAdminConfig } from './config';

/** Entry point of the core's Admin API process: configuration from the environment, clean shutdown. */
let config: ReturnType<typeof loadAdminConfig>;
try {
  config = loadAdminConfig();
} catch (err) {
  console.error(`[core] failed to start: ${(err as Error).message}`);
  process.exit(1);
}
const server = await AdminServer.start(config).catch((err: Error) => {
  console.error(`[core] failed to start: ${err.message}`);
  process.exit(1);
});
console.log(
  `[core] Admin API serving on ${config.host}:${server.port} (${server.directory.size} room(s) in the directory)`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.close().finally(() => process.exit(0));
  });
}
