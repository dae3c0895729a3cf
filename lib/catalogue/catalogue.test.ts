import { describe, expect, it } from 'vitest';
import { buildCatalogue, loadCatalogue } from './catalogue';

const region = (id: string, index: number, extra: Record<string, unknown> = {}) => ({
  source: `${id}.json`,
  data: { id, name: id, kind: 'region', index, redis: {}, kafka: {}, ...extra },
});
const core = { source: 'core.json', data: { id: 'core', name: 'Core', kind: 'core', index: 0, kafka: {} } };
const topo = (flows: { source: string; target: string }[]) => ({ source: 'topology.json', data: { flows } });

describe('region catalogue', () => {
  it('loads the repository catalogue: seoul, frankfurt and the core, with their flows', () => {
    const cat = loadCatalogue();
    expect(cat.regions.map((r) => r.id)).toEqual(['seoul', 'frankfurt']);
    expect(cat.core.id).toBe('core');
    expect(cat.core.kind).toBe('core');
    expect(cat.get('seoul').redis).toEqual({ masters: 3, replicasPerMaster: 1 });
    expect(cat.get('seoul').kafka.brokers).toBe(1);
    expect(cat.get('seoul').edges).toBe(1);
    const flows = cat.flows.map((f) => `${f.source}->${f.target}`).sort();
    expect(flows).toEqual(['frankfurt->core', 'frankfurt->seoul', 'seoul->core', 'seoul->frankfurt']);
  });

  it('fills defaults', () => {
    const cat = buildCatalogue([region('a', 1), core], topo([]));
    expect(cat.get('a')).toMatchObject({
      edges: 1,
      redis: { masters: 3, replicasPerMaster: 1 },
      kafka: { brokers: 1 },
    });
  });

  it('rejects what would break the launcher, saying where', () => {
    expect(() => buildCatalogue([region('a', 1), region('b', 1), core], topo([]))).toThrow(
      /share the port index 1/,
    );
    expect(() => buildCatalogue([region('a', 1)], topo([]))).toThrow(/exactly one core/);
    expect(() => buildCatalogue([region('a', 1), core], topo([{ source: 'a', target: 'x' }]))).toThrow(
      /unknown region "x"/,
    );
    expect(() => buildCatalogue([region('a', 1), core], topo([{ source: 'a', target: 'a' }]))).toThrow(
      /nowhere/,
    );
    expect(() => buildCatalogue([region('a.b', 1), core], topo([]))).toThrow(/a\.b\.json: id/);
    expect(() => buildCatalogue([region('a', 1, { kafka: { brokers: 2 } }), core], topo([]))).toThrow(
      /kafka\.brokers/,
    );
    expect(() => buildCatalogue([region('a', 1, { colour: 'red' }), core], topo([]))).toThrow(/a\.json/);
    expect(() =>
      buildCatalogue(
        [{ source: 'x.json', data: { ...region('x', 2).data, redis: undefined } }, core],
        topo([]),
      ),
    ).toThrow(/no redis section/);
    expect(() => buildCatalogue([region('a', 1), core], topo([]).data as never)).toThrow();
    expect(() => buildCatalogue([region('a', 1), core], topo([])).get('nowhere')).toThrow(
      /unknown region "nowhere"/,
    );
  });
});
