import Redis from 'ioredis';

/** Runs one command on one Redis node on 127.0.0.1 over a short-lived connection (probes and checks, not traffic). */
export function redisCommand(port: number, command: string, ...args: (string | number)[]): Promise<unknown> {
  return redisCommandAt('127.0.0.1', port, command, ...args);
}

/** Same, on another host (a site's address in the emulated WAN). */
export async function redisCommandAt(
  host: string,
  port: number,
  command: string,
  ...args: (string | number)[]
): Promise<unknown> {
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(command, ...args);
  } finally {
    client.disconnect();
  }
}

/** `INFO <section>` parsed into key → value. */
export async function redisInfo(
  port: number,
  section: string,
  host = '127.0.0.1',
): Promise<Map<string, string>> {
  const text = String(await redisCommandAt(host, port, 'INFO', section));
  const map = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
}

export interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | null;
  connected: boolean;
  slots: string[];
}

/** `CLUSTER NODES` parsed. */
export async function clusterNodes(port: number, host = '127.0.0.1'): Promise<ClusterNodeLine[]> {
  const text = String(await redisCommandAt(host, port, 'CLUSTER', 'NODES'));
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const [id, addr, flags, master, , , , link, ...slots] = line.split(' ');
      const hostPort = (addr ?? '').split('@')[0] ?? '';
      return {
        id: id ?? '',
        port: Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)),
        flags: (flags ?? '').split(','),
        masterId: master && master !== '-' ? master : null,
        connected: link === 'connected',
        slots,
      };
    });
}

/** Slot ranges from `CLUSTER SLOTS`: [start, end, master port, replica ports]. */
export async function clusterSlots(
  port: number,
  host = '127.0.0.1',
): Promise<{ start: number; end: number; master: number; replicas: number[] }[]> {
  const raw = (await redisCommandAt(host, port, 'CLUSTER', 'SLOTS')) as [
    number,
    number,
    [string, number],
    ...[string, number][],
  ][];
  return raw.map(([start, end, master, ...replicas]) => ({
    start,
    end,
    master: Number(master[1]),
    replicas: replicas.map((r) => Number(r[1])),
  }));
}
