import { describe, expect, it } from 'vitest';
import { REGION_TOPICS } from '../../lib/kafka/topics';
import { mirrorMakerProperties } from './mirrorMakerConfig';

const clusters = [
  { id: 'core', bootstrap: '127.0.0.1:21020', brokers: 1 },
  { id: 'seoul', bootstrap: '127.0.0.1:21120,127.0.0.1:21121,127.0.0.1:21122', brokers: 3 },
  { id: 'frankfurt', bootstrap: '127.0.0.1:21220', brokers: 1 },
];
const flows = [
  { source: 'seoul', target: 'frankfurt' },
  { source: 'frankfurt', target: 'seoul' },
  { source: 'seoul', target: 'core' },
  { source: 'frankfurt', target: 'core' },
];

function parse(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    map.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return map;
}

describe('mirrorMakerProperties', () => {
  const props = parse(mirrorMakerProperties(clusters, flows, REGION_TOPICS));

  it('declares the clusters and enables exactly the topology flows', () => {
    expect(props.get('clusters')).toBe('core, seoul, frankfurt');
    expect(props.get('seoul.bootstrap.servers')).toBe(clusters[1]!.bootstrap);
    const enabled = [...props].filter(([k, v]) => k.endsWith('.enabled') && k.includes('->') && v === 'true');
    expect(enabled.map(([k]) => k.replace('.enabled', '')).sort()).toEqual(
      ['frankfurt->core', 'frankfurt->seoul', 'seoul->core', 'seoul->frankfurt'].sort(),
    );
    // Heartbeats on would start herders for every other pair (core->seoul, …).
    expect(props.get('emit.heartbeats.enabled')).toBe('false');
    expect(props.get('replication.policy.class')).toBe(
      'org.apache.kafka.connect.mirror.DefaultReplicationPolicy',
    );
    expect(props.get('refresh.topics.interval.seconds')).toBe('2');
  });

  it('mirrors only the regions own topics, never an already mirrored one', () => {
    const pattern = props.get('seoul->frankfurt.topics')!;
    // MirrorMaker joins the list with | and matches whole names.
    const re = new RegExp(`^(?:${pattern.split(',').join('|')})$`);
    for (const t of REGION_TOPICS) expect(re.test(t.name)).toBe(true);
    for (const t of ['seoul.chat', 'frankfurt.chat', 'core.room-events', 'chatty', 'xchat', 'heartbeats'])
      expect(re.test(t), t).toBe(false);
  });

  it('sizes replication per cluster: RF 3 into the 3-broker region, 1 elsewhere', () => {
    expect(props.get('frankfurt->seoul.replication.factor')).toBe('3');
    expect(props.get('seoul->frankfurt.replication.factor')).toBe('1');
    expect(props.get('seoul->core.offset-syncs.topic.replication.factor')).toBe('3');
    expect(props.get('frankfurt->core.offset-syncs.topic.replication.factor')).toBe('1');
    expect(props.get('seoul.config.storage.replication.factor')).toBe('3');
    expect(props.get('core.status.storage.replication.factor')).toBe('1');
  });

  it('is tuned for low lag', () => {
    for (const c of clusters) {
      expect(Number(props.get(`${c.id}.consumer.fetch.max.wait.ms`))).toBeLessThanOrEqual(50);
      expect(props.get(`${c.id}.producer.linger.ms`)).toBe('0');
    }
    expect(props.get('sync.topic.configs.enabled')).toBe('false');
  });

  it('rejects flows to unknown clusters and empty topologies', () => {
    expect(() =>
      mirrorMakerProperties(clusters, [{ source: 'seoul', target: 'tokyo' }], REGION_TOPICS),
    ).toThrow(/no cluster "tokyo"/);
    expect(() =>
      mirrorMakerProperties(clusters, [{ source: 'seoul', target: 'seoul' }], REGION_TOPICS),
    ).toThrow(/goes nowhere/);
    expect(() => mirrorMakerProperties(clusters, [], REGION_TOPICS)).toThrow(/at least one flow/);
  });
});
