import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { readMeshInfo } from '../../../lib/mesh';
import {
  isPortFree,
  Mesh,
  PortAllocator,
  processesUnder,
  ServiceStartError,
} from '../../../regions/launcher';

// Every case uses the same ports, one after the other: the cases prove nothing is left on them.
const BASE = 28000;
const started: Mesh[] = [];

afterAll(async () => {
  for (const m of started) await m.stop();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function busyPorts(ports: number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const p of ports) if (!(await isPortFree(p))) busy.push(p);
  return busy;
}

/** Every port of one region's block (Redis, bus, Kafka, controller): nothing may stay bound. */
function blockPorts(base: number, index: number): number[] {
  const block = new PortAllocator(base).block(index);
  return Array.from({ length: 40 }, (_, i) => block + i);
}

describe('mesh launcher', () => {
  it('starts, stops and starts again on the same ports with no process or port left behind', async () => {
    const options = {
      name: 'test-launcher',
      portBase: BASE,
      regions: ['seoul'],
      onProgress: (l: string) => console.log(l),
    };
    for (const round of [1, 2]) {
      const t = Date.now();
      const mesh = await Mesh.start(options);
      started.push(mesh);
      const info = readMeshInfo(mesh.infoFile);
      console.log(`round ${round}: mesh up in ${Date.now() - t} ms`);
      expect(info.regions.seoul!.redis!.nodes).toHaveLength(6);
      expect(info.regions.seoul!.kafka!.bootstrap).toBe(`127.0.0.1:${BASE + 120}`);
      expect(info.regions.core!.kafka!.bootstrap).toBe(`127.0.0.1:${BASE + 20}`);
      expect(info.mirrorMaker!.flows).toEqual([{ source: 'seoul', target: 'core' }]);
      const pids = info.processes.map((p) => p.pid);
      expect(pids).toHaveLength(6 + 1 + 1 + 1);
      expect(pids.every(alive)).toBe(true);

      const t2 = Date.now();
      await mesh.stop();
      console.log(`round ${round}: mesh stopped in ${Date.now() - t2} ms`);
      expect(pids.filter(alive)).toEqual([]);
      expect(processesUnder(mesh.dir)).toEqual([]);
      expect(await busyPorts([...blockPorts(BASE, 0), ...blockPorts(BASE, 1)])).toEqual([]);
      expect(existsSync(mesh.infoFile)).toBe(false);
    }
    // Two full starts of three JVMs each: ~45 s apiece on a busy 2-core machine.
  }, 300_000);

  it('fails with the service, its port and its last log lines when a port is taken, and stops what it started', async () => {
    const base = BASE;
    const kafkaPort = new PortAllocator(base).port(1, 'kafka', 0);
    // Another program holding the port: it accepts connections and never answers.
    const sockets = new Set<Socket>();
    const blocker: Server = createServer((s) => sockets.add(s.on('error', () => {})));
    await new Promise<void>((resolve) => blocker.listen(kafkaPort, '127.0.0.1', resolve));
    try {
      const error = await Mesh.start({
        name: 'test-launcher-port',
        portBase: base,
        regions: ['seoul'],
        core: false,
        mirrorMaker: false,
        onProgress: (l) => console.log(l),
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ServiceStartError);
      const e = error as ServiceStartError;
      console.log(e.message);
      expect(e.service).toBe('kafka seoul/1');
      expect(e.message).toContain(String(kafkaPort));
      expect(e.message).toContain('already in use');
      expect(e.message).toMatch(/last lines of .*kafka-seoul-1\.log/);
      expect(e.logTail.join('\n')).toMatch(/Address already in use|BindException/);
      // The Redis Cluster that came up meanwhile is gone, and so is the broker.
      expect(processesUnder(e.logFile!.replace(/\/logs\/.*$/, ''))).toEqual([]);
      const others = blockPorts(base, 1).filter((p) => p !== kafkaPort);
      expect(await busyPorts(others)).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('fails clearly when java is missing, and stops the Redis Cluster it had started', async () => {
    const base = BASE;
    const error = await Mesh.start({
      name: 'test-launcher-java',
      portBase: base,
      regions: ['seoul'],
      core: false,
      java: '/nonexistent/jdk/bin/java',
      onProgress: (l) => console.log(l),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceStartError);
    const e = error as ServiceStartError;
    console.log(e.message);
    expect(e.service).toMatch(/^kafka seoul\/1/);
    expect(e.message).toContain('/nonexistent/jdk/bin/java');
    expect(e.message).toContain('not found');
    expect(e.message).toContain(String(new PortAllocator(base).port(1, 'kafka', 0)));
    expect(e.logFile).toMatch(/kafka-seoul-1\.log$/);
    expect(processesUnder(e.logFile!.replace(/\/logs\/.*$/, ''))).toEqual([]);
    expect(await busyPorts(blockPorts(base, 1))).toEqual([]);
  });

  it('owns processes spawned on top of it and stops everything when one of its processes crashes', async () => {
    const base = BASE;
    const mesh = await Mesh.start({
      name: 'test-launcher-crash',
      portBase: base,
      regions: ['seoul'],
      core: false,
      kafka: false,
      onProgress: (l) => console.log(l),
    });
    started.push(mesh);
    // A process on top of the mesh, as edges will be: it reads the connection file it is given.
    const edgePort = new PortAllocator(base).port(1, 'edgeHttp', 0);
    const script = `
      const info = JSON.parse(require('node:fs').readFileSync(process.env.MEETVIEW_MESH_FILE, 'utf8'));
      require('node:http').createServer((q, r) => r.end(String(info.regions.seoul.redis.nodes.length)))
        .listen(${edgePort}, '127.0.0.1');`;
    const edge = await mesh.spawn({
      service: 'edge seoul/0',
      command: process.execPath,
      args: ['-e', script],
      ports: [edgePort],
      ready: async () => (await fetch(`http://127.0.0.1:${edgePort}/`).then((r) => r.text())) === '6',
    });
    expect(readMeshInfo(mesh.infoFile).processes.map((p) => p.service)).toContain('edge seoul/0');
    const pids = mesh.info.processes.map((p) => p.pid);
    expect(pids).toContain(edge.pid);
    const closed = new Promise<string>((resolve) => mesh.once('died', (service) => resolve(service)));
    // Not through the API: an outside kill is a crash.
    process.kill(pids[2]!, 'SIGKILL');
    expect(await closed).toBe('redis seoul/2');
    await mesh.stop(); // already under way: resolves when it is done
    expect(pids.filter(alive)).toEqual([]);
    expect(await busyPorts([...blockPorts(base, 1), edgePort])).toEqual([]);
  });
});
