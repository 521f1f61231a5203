import { ManualClock } from './clock';
import { SwrCache } from './swr-cache';

describe('SwrCache', () => {
  it('serves fresh entries, serves stale ones while refreshing once, reloads expired ones', async () => {
    const clock = new ManualClock(1_000_000);
    let version = 0;
    let loads = 0;
    let release: () => void = () => undefined;
    let gate: Promise<void> = Promise.resolve();
    const cache = new SwrCache<string, number>(
      async () => {
        loads++;
        await gate;
        return ++version;
      },
      { freshMs: 30, staleMs: 60, now: () => clock.nowMs() },
    );
    expect(await cache.get('t')).toBe(1);
    clock.advance(29);
    expect(await cache.get('t')).toBe(1);
    expect(loads).toBe(1);

    clock.advance(11);
    gate = new Promise<void>((r) => (release = r));
    // Stale: answered at once with the old value, one refresh for both requests.
    expect(await Promise.all([cache.get('t'), cache.get('t')])).toEqual([1, 1]);
    expect(loads).toBe(2);
    release();
    await gate;
    await Promise.resolve();
    expect(await cache.get('t')).toBe(2);
    expect(loads).toBe(2);

    clock.advance(91);
    gate = Promise.resolve();
    // Too old: the caller waits for the reload.
    expect(await cache.get('t')).toBe(3);
    expect(loads).toBe(3);
  });

  it('forgets a deleted key', async () => {
    let n = 0;
    const cache = new SwrCache<string, number>(async () => ++n, { freshMs: 10000, staleMs: 0 });
    expect(await cache.get('a')).toBe(1);
    cache.delete('a');
    expect(await cache.get('a')).toBe(2);
  });
});
