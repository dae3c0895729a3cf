import { loadEdgeConfig } from './config';
import { EdgeNode } from './EdgeNode';

/** Entry point of an edge process: configuration from the environment, clean shutdown on signals. */
const config = loadEdgeConfig();
const node = await EdgeNode.start(config).catch((err: Error) => {
  console.error(`[edge ${config.nodeId}] failed to start: ${err.message}`);
  process.exit(1);
});
console.log(`[edge ${config.nodeId}] region ${config.region} listening on ${node.url}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    node.close().finally(() => process.exit(0));
  });
}
