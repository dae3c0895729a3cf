import { describe, expect, it } from 'vitest';
import type { MeshInfo } from './info';
import { meshDir, meshKafkaBrokers, meshRedisNodes, parseMeshInfo } from './reader';

const info: MeshInfo = {
  version: 1,
  name: 'dev',
  dir: '/x/.mesh/dev',
  portBase: 21000,
  launcherPid: 1,
  startedAt: new Date(0).toISOString(),
  core: 'core',
  regions: {
    seoul: {
      id: 'seoul',
      name: 'Seoul',
      kind: 'region',
      index: 1,
      edges: 1,
      portBlock: 21100,
      redis: { nodes: [{ host: '127.0.0.1', port: 21100, busPort: 21110, pid: 2 }] },
      kafka: {
        clusterId: 'abc',
        bootstrap: '127.0.0.1:21120,127.0.0.1:21121',
        brokers: [],
        replicationFactor: 1,
        minInsyncReplicas: 1,
        topics: ['chat'],
      },
    },
    core: {
      id: 'core',
      name: 'Core',
      kind: 'core',
      index: 0,
      edges: 0,
      portBlock: 21000,
      redis: null,
      kafka: null,
    },
  },
  mirrorMaker: null,
  processes: [],
};

describe('mesh connection file', () => {
  it('round-trips and gives clients what they connect to', () => {
    const parsed = parseMeshInfo(JSON.stringify(info));
    expect(meshRedisNodes(parsed, 'seoul')).toEqual([{ host: '127.0.0.1', port: 21100 }]);
    expect(meshKafkaBrokers(parsed, 'seoul')).toEqual(['127.0.0.1:21120', '127.0.0.1:21121']);
    expect(() => meshRedisNodes(parsed, 'core')).toThrow(/runs no Redis/);
    expect(() => meshKafkaBrokers(parsed, 'tokyo')).toThrow(/no region "tokyo"/);
  });

  it('rejects what is not a connection file, saying why', () => {
    expect(() => parseMeshInfo('{', 'f.json')).toThrow(/f\.json is not valid JSON/);
    expect(() => parseMeshInfo(JSON.stringify({ ...info, portBase: 'x' }), 'f.json')).toThrow(/portBase/);
  });

  it('refuses mesh names that would escape .mesh/', () => {
    expect(meshDir('dev')).toMatch(/\.mesh\/dev$/);
    expect(() => meshDir('../etc')).toThrow(/invalid mesh name/);
  });
});
