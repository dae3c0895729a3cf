import { createConnection } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MESH_NAME, type MeshInfo, meshRoot, readMeshInfo } from '../lib/mesh';
import { startCore } from './launcher/core';
import { startEdges } from './launcher/edges';
import { Mesh } from './launcher/Mesh';
import { DEFAULT_PORT_BASE } from './launcher/PortAllocator';
import { isPidAlive, isPortFree, killProcessesUnder, sleep } from './launcher/system';
import { Wan } from './launcher/wan/Wan';

const USAGE = `usage: tsx regions/cli.ts <command> [options]

  up      start the local mesh and wait for Ctrl-C
            --name <name>           mesh name, directory .mesh/<name> (default ${DEFAULT_MESH_NAME})
            --port-base <N>         first port (default ${DEFAULT_PORT_BASE}; two meshes need bases ≥ 1000 apart)
            --regions <a,b>         regions to run (default: all in regions/catalogue)
            --three-broker <region> run that region's Kafka as 3 brokers (RF 3, min ISR 2)
            --no-mirrormaker        skip MirrorMaker 2
            --no-edges              skip the edge nodes (infrastructure only)
            --wan                   each region and the core in its own network namespace, joined by
                                    an emulated WAN (80 ms RTT seoul-frankfurt, 150 ms to the core;
                                    needs root; see regions/launcher/wan/README.md)
            --no-admin              skip the core's Admin API
            --java <path>           java executable (default $JAVA, $JAVA_HOME/bin/java, java)
  down    stop a mesh started by another process (--name)
  status  show a mesh's services and whether they are alive (--name)
`;

function describe(info: MeshInfo): string {
  const lines: string[] = [];
  for (const r of Object.values(info.regions)) {
    lines.push(`  ${r.kind === 'core' ? 'core  ' : 'region'} ${r.id} (${r.name})`);
    if (r.redis)
      lines.push(`    redis cluster  ${r.redis.nodes.map((n) => `${n.host}:${n.port}`).join(' ')}`);
    if (r.kafka)
      lines.push(
        `    kafka          ${r.kafka.bootstrap}  (${r.kafka.brokers.length} broker(s), RF ${r.kafka.replicationFactor}, min ISR ${r.kafka.minInsyncReplicas})`,
      );
  }
  if (info.mirrorMaker)
    lines.push(
      `  mirrormaker 2  pid ${info.mirrorMaker.pid}: ${info.mirrorMaker.flows.map((f) => `${f.source}->${f.target}`).join(', ')}`,
    );
  lines.push(`  connection file ${join(info.dir, 'mesh.json')}  (logs in ${join(info.dir, 'logs')})`);
  return lines.join('\n');
}

/** The emulated WAN's sites and links, for the banner. */
function wanLines(mesh: Mesh): string {
  const wan = mesh.wan;
  if (!wan) return '';
  const sites = wan.plan.sites.map((s) => `    ${s.id.padEnd(10)} ${s.address.padEnd(14)} netns ${s.netns}`);
  const links = wan.plan.links.map(
    (l) =>
      `    ${`${l.a}-${l.b}`.padEnd(20)} ${l.delayMs * 2} ms RTT${l.loss ? `, loss ${l.loss * 100}%` : ''}`,
  );
  return `\n\n  emulated WAN (a user-space link emulator between sites; this machine reaches each site directly)\n${[...sites, ...links].join('\n')}`;
}

async function up(values: Record<string, string | boolean | undefined>): Promise<void> {
  const started = Date.now();
  const log = (line: string) =>
    console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s ${line}`);
  const portBase = values['port-base'] === undefined ? undefined : Number(values['port-base']);
  if (portBase !== undefined && !Number.isInteger(portBase)) throw new Error(`--port-base: not an integer`);
  const mesh = await Mesh.start({
    name: values.name as string | undefined,
    portBase,
    regions: typeof values.regions === 'string' ? values.regions.split(',').filter(Boolean) : undefined,
    threeBrokerRegion: values['three-broker'] as string | undefined,
    mirrorMaker: !values['no-mirrormaker'],
    wan: values.wan === true,
    java: values.java as string | undefined,
    onProgress: log,
    handleSignals: true,
  });
  mesh.on('died', () => {
    mesh.once('close', () => process.exit(1));
  });
  let edgeLines = '';
  if (!values['no-edges']) {
    log('starting edges');
    const edges = await startEdges(mesh).catch(async (err: Error) => {
      await mesh.stop();
      throw err;
    });
    edgeLines = `\n\n  edges\n${edges.map((e) => `    ${e.node.padEnd(18)} ${e.url}`).join('\n')}`;
    if (edges[0]) edgeLines += `\n\n  Open ${edges[0].url}/ in a browser to start a meeting.`;
  }
  let adminLines = '';
  if (!values['no-admin'] && mesh.info.core) {
    log('starting the Admin API');
    const core = await startCore(mesh).catch(async (err: Error) => {
      await mesh.stop();
      throw err;
    });
    adminLines =
      `\n\n  admin gRPC API  ${core.admin}  (key ${core.key}; reflection on: grpcurl -plaintext ${core.admin} list)` +
      `\n  try: MEETVIEW_ADMIN=${core.admin} MEETVIEW_API_KEY=${core.key} MEETVIEW_API_SECRET=${core.secret} npx meetview rooms`;
  }
  console.log(
    `\nmesh "${mesh.name}" is up:\n${describe(mesh.info)}${wanLines(mesh)}${edgeLines}${adminLines}\n\nCtrl-C stops everything.`,
  );
  // Stay alive until a signal or a crash stops the mesh.
  await new Promise<void>((resolve) => mesh.once('close', resolve));
}

async function down(name: string): Promise<void> {
  const dir = join(meshRoot(), name);
  let launcher: number | null = null;
  try {
    launcher = readMeshInfo(join(dir, 'mesh.json')).launcherPid;
  } catch {
    // no connection file: the launcher is gone or never finished starting
  }
  if (launcher !== null && isPidAlive(launcher)) {
    process.kill(launcher, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (isPidAlive(launcher) && Date.now() < deadline) await sleep(200);
  }
  const killed = await killProcessesUnder(dir);
  const namespaces = Wan.removeStale(name);
  console.log(
    `mesh "${name}" is down${killed > 0 ? ` (killed ${killed} leftover process(es))` : ''}${namespaces > 0 ? ` (removed ${namespaces} network namespace(s))` : ''}`,
  );
}

/** Something accepts connections on the port, on loopback or (the emulated WAN) on a site's address. */
async function isListening(port: number, hosts: readonly string[]): Promise<boolean> {
  if (hosts.length === 0) return !(await isPortFree(port));
  // Services of the launcher's own namespace (e.g. the core's API) still listen on loopback.
  const tries = [...hosts, '127.0.0.1'].map(
    (host) =>
      new Promise<boolean>((resolve) => {
        const socket = createConnection({ host, port, timeout: 1000 });
        const done = (ok: boolean) => {
          socket.destroy();
          resolve(ok);
        };
        socket.once('connect', () => done(true));
        socket.once('error', () => done(false));
        socket.once('timeout', () => done(false));
      }),
  );
  return (await Promise.all(tries)).some(Boolean);
}

async function status(name: string): Promise<number> {
  const info = readMeshInfo(join(meshRoot(), name, 'mesh.json'));
  // Sites in namespaces listen on their own addresses, not on the launcher's loopback.
  const hosts = [
    ...new Set(
      Object.values(info.regions).flatMap((r) => [
        ...(r.redis?.nodes.map((n) => n.host) ?? []),
        ...(r.kafka?.brokers.map((b) => b.host) ?? []),
      ]),
    ),
  ].filter((h) => h !== '127.0.0.1');
  console.log(
    `mesh "${info.name}" (launcher pid ${info.launcherPid}${isPidAlive(info.launcherPid) ? '' : ', NOT RUNNING'})`,
  );
  console.log(describe(info));
  let bad = 0;
  for (const p of info.processes) {
    const alive = isPidAlive(p.pid);
    const listening = await Promise.all(p.ports.map((port) => isListening(port, hosts)));
    const ok = alive && listening.every(Boolean);
    if (!ok) bad++;
    console.log(
      `  ${ok ? 'ok  ' : 'DOWN'} ${p.service.padEnd(20)} pid ${String(p.pid).padEnd(8)} ports ${p.ports.join(',') || '-'}`,
    );
  }
  return bad === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'port-base': { type: 'string' },
      regions: { type: 'string' },
      'three-broker': { type: 'string' },
      'no-mirrormaker': { type: 'boolean' },
      'no-edges': { type: 'boolean' },
      wan: { type: 'boolean' },
      'no-admin': { type: 'boolean' },
      java: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  const name = (values.name as string | undefined) ?? DEFAULT_MESH_NAME;
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case 'up':
      await up(values);
      return 0;
    case 'down':
      await down(name);
      return 0;
    case 'status':
      return status(name);
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`\n${error.message}`);
    process.exit(1);
  },
);
