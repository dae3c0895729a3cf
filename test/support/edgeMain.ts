/**
 * An EdgeNode in a process of its own (startTestEdge), for tests that crash an edge with SIGKILL: no
 * leave, no room close, no pipe close gets out of it. Prints one JSON line `{ node, url }` once it
 * listens; SIGTERM closes it in order. Usage: tsx edgeMain.ts '<json: { mesh: MeshInfo, edge: TestEdgeOptions }>'.
 */
import type { MeshInfo } from '../../lib/mesh';
import { startTestEdge, type TestEdgeOptions } from './edgeFixture';

const { mesh, edge: options } = JSON.parse(process.argv[2] ?? '{}') as {
  mesh: MeshInfo;
  edge: TestEdgeOptions;
};
const edge = await startTestEdge(mesh, options);
process.on('SIGTERM', () => {
  void edge.close().finally(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ node: edge.config.nodeId, url: edge.url })}\n`);
