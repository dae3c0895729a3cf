import { describe, expect, it } from 'vitest';
import { MESH_SPAN, PortAllocator } from './PortAllocator';

describe('PortAllocator', () => {
  it('gives every service of every region a fixed port in its block', () => {
    const p = new PortAllocator(21000);
    expect(p.block(0)).toBe(21000);
    expect(p.ports(1, 'redis', 6)).toEqual([21100, 21101, 21102, 21103, 21104, 21105]);
    expect(p.ports(1, 'redisBus', 6)).toEqual([21110, 21111, 21112, 21113, 21114, 21115]);
    expect(p.ports(2, 'kafka', 3)).toEqual([21220, 21221, 21222]);
    expect(p.port(2, 'kafkaController', 2)).toBe(21232);
    expect(p.port(0, 'core', 0)).toBe(21040);
    expect(p.port(1, 'edgeHttp', 0)).toBe(21150);
  });

  it('never hands out the same port twice within a mesh', () => {
    const p = new PortAllocator(21000);
    const all: number[] = [];
    for (let region = 0; region <= 9; region++) {
      all.push(...p.ports(region, 'redis', 10), ...p.ports(region, 'redisBus', 10));
      all.push(...p.ports(region, 'kafka', 3), ...p.ports(region, 'kafkaController', 3));
      all.push(
        ...p.ports(region, 'core', 10),
        ...p.ports(region, 'edgeHttp', 10),
        ...p.ports(region, 'edgeCascade', 10),
      );
    }
    expect(new Set(all).size).toBe(all.length);
    expect(Math.max(...all) - 21000).toBeLessThan(MESH_SPAN);
  });

  it('keeps two meshes with bases MESH_SPAN apart disjoint', () => {
    const a = new PortAllocator(21000);
    const b = new PortAllocator(21000 + MESH_SPAN);
    expect(a.port(9, 'edgeCascade', 9)).toBeLessThan(b.port(0, 'redis', 0));
  });

  it('rejects bad bases, indexes and counts with a clear error', () => {
    expect(() => new PortAllocator(80)).toThrow(/≥ 1024/);
    expect(() => new PortAllocator(32000)).toThrow(/ephemeral/);
    expect(() => new PortAllocator(21000.5)).toThrow(/integer/);
    const p = new PortAllocator(21000);
    expect(() => p.block(10)).toThrow(/0\.\.9/);
    expect(() => p.port(1, 'kafka', 3)).toThrow(/kafka port number must be 0\.\.2/);
  });
});
