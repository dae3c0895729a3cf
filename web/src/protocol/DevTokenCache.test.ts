import { describe, expect, it } from 'vitest';
import { DevTokenCache, type DevTokenRequest } from './DevTokenCache';

function counting() {
  const asked: DevTokenRequest[] = [];
  const fetch = async (req: DevTokenRequest) => {
    asked.push(req);
    if (req.name === 'fail') throw new Error('refused');
    return { token: `t${asked.length}`, url: '/rtc' };
  };
  return { asked, cache: new DevTokenCache(fetch) };
}

const kim = { room: 'standup', identity: 'tab-1', name: 'Kim' };

describe('DevTokenCache', () => {
  it('hands the prefetched token to the matching join, once', async () => {
    const { asked, cache } = counting();
    cache.prefetch(kim);
    cache.prefetch(kim);
    expect((await cache.take(kim)).token).toBe('t1');
    expect(asked).toHaveLength(1);
    expect((await cache.take(kim)).token).toBe('t2');
  });

  it('asks again when the name or room changed, or the prefetch failed', async () => {
    const { asked, cache } = counting();
    cache.prefetch(kim);
    expect((await cache.take({ ...kim, name: 'Lee' })).token).toBe('t2');
    cache.prefetch({ ...kim, name: 'fail' });
    await Promise.resolve();
    await expect(cache.take({ ...kim, name: 'fail' })).rejects.toThrow('refused');
    expect(asked.map((r) => r.name)).toEqual(['Kim', 'Lee', 'fail', 'fail']);
  });

  it('does not prefetch without a room and a name', () => {
    const { asked, cache } = counting();
    cache.prefetch({ ...kim, name: '' });
    cache.prefetch({ ...kim, room: '' });
    expect(asked).toHaveLength(0);
  });
});
