import { describe, expect, it } from 'vitest';
import { hostInterface, netnsPrefix, WanPlan } from './WanPlan';

const sites = [
  { id: 'core', index: 0 },
  { id: 'seoul', index: 1 },
  { id: 'frankfurt', index: 2 },
];

describe('WanPlan', () => {
  it('gives each site a namespace and an address in 10.X.0.0/16 derived from the port base', () => {
    const plan = new WanPlan('dev', 21000, sites);
    expect(plan.subnet).toBe(210);
    expect(plan.site('seoul')).toMatchObject({
      netns: 'mv.dev.seoul',
      address: '10.210.2.2',
      gateway: '10.210.2.1',
      cidr: '10.210.2.0/24',
      wanIf: 'r1',
    });
    expect(plan.wanNetns).toBe('mv.dev.wan');
    expect(plan.hostAddress).toBe('10.210.250.2');
    expect(new WanPlan('dev', 19500, sites).subnet).toBe(195);
  });

  it('defaults to 80 ms RTT seoul-frankfurt and 150 ms for every other pair, half each way', () => {
    const plan = new WanPlan('dev', 21000, sites);
    expect(plan.links).toHaveLength(3);
    expect(plan.link('frankfurt', 'seoul').delayMs).toBe(40);
    expect(plan.link('seoul', 'core').delayMs).toBe(75);
    expect(plan.link('core', 'frankfurt').delayMs).toBe(75);
  });

  it('takes links in either order, and a default for the rest', () => {
    const plan = new WanPlan('dev', 21000, sites, {
      links: { 'frankfurt-seoul': { rttMs: 20, loss: 0.01, jitterMs: 2 } },
      defaultLink: { rttMs: 300 },
    });
    expect(plan.link('seoul', 'frankfurt')).toMatchObject({ delayMs: 10, loss: 0.01, jitterMs: 2 });
    expect(plan.link('seoul', 'core').delayMs).toBe(150);
    expect(JSON.parse(plan.emulatorConfig()).sites).toEqual([
      { name: 'core', cidr: '10.210.1.0/24' },
      { name: 'seoul', cidr: '10.210.2.0/24' },
      { name: 'frankfurt', cidr: '10.210.3.0/24' },
    ]);
  });

  it('refuses bad input with a clear error', () => {
    expect(() => new WanPlan('dev', 21000, sites, { links: { 'seoul-tokyo': { rttMs: 1 } } })).toThrow(
      /two different sites of the mesh/,
    );
    expect(() => new WanPlan('dev', 21000, sites, { links: { 'seoul-core': { loss: 2 } } })).toThrow(
      /loss must be 0..1/,
    );
    expect(() => new WanPlan('dev', 21000, sites, { subnet: 300 })).toThrow(/0..255/);
    expect(() => new WanPlan('dev', 21000, [...sites, { id: 'seoul', index: 3 }])).toThrow(/twice/);
    expect(() => new WanPlan('dev', 21000, sites).site('tokyo')).toThrow(/no site "tokyo"/);
  });

  it('names fit the kernel: interface names ≤ 15 characters, namespaces by mesh', () => {
    expect(hostInterface('a-very-long-mesh-name-that-goes-on')).toMatch(/^mv[0-9a-f]{10}$/);
    expect(hostInterface('a')).not.toBe(hostInterface('b'));
    expect(netnsPrefix('dev')).toBe('mv.dev.');
  });
});
