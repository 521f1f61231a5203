import { GroupCommit } from './group-commit';

describe('GroupCommit', () => {
  it('sends a lone item at once and groups the ones that arrive while a write runs', async () => {
    const groups: number[][] = [];
    let release: () => void = () => undefined;
    const gc = new GroupCommit<number, number>(
      async (items) => {
        groups.push(items);
        if (groups.length === 1) await new Promise<void>((r) => (release = r));
        return items.map((i) => i * 10);
      },
      { maxInFlight: 1, maxGroup: 100 },
    );
    const first = gc.submit(1);
    const rest = [2, 3, 4].map((i) => gc.submit(i));
    expect(groups).toEqual([[1]]);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(groups).toEqual([[1], [2, 3, 4]]);
  });

  it('caps a group by weight and fails every item of a failed group', async () => {
    const groups: number[][] = [];
    const gc = new GroupCommit<number, number>(
      async (items) => {
        groups.push(items);
        if (items.includes(13)) throw new Error('storage down');
        return items;
      },
      { maxInFlight: 1, maxGroup: 5, weight: (i) => i },
    );
    const results = await Promise.allSettled([2, 2, 2, 13, 1].map((i) => gc.submit(i)));
    expect(groups[0]).toEqual([2]);
    expect(groups.slice(1)).toEqual([[2, 2], [13], [1]]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
  });

  it('lets a group grow while hold waits, and writes at once when hold says so', async () => {
    const groups: number[][] = [];
    let busy = true;
    let free: () => void = () => undefined;
    const gc = new GroupCommit<number, void>(
      async (items) => {
        groups.push(items);
        return items.map(() => undefined);
      },
      {
        maxInFlight: 1,
        maxGroup: 100,
        hold: () => (busy ? new Promise<void>((r) => (free = r)) : undefined),
      },
    );
    const held = [1, 2, 3].map((i) => gc.submit(i));
    await Promise.resolve();
    expect(groups).toEqual([]);
    expect(gc.pending).toBe(3);
    busy = false;
    free();
    await Promise.all(held);
    expect(groups).toEqual([[1, 2, 3]]);
    await gc.submit(4);
    expect(groups).toEqual([[1, 2, 3], [4]]);
    expect(gc.pending).toBe(0);
  });
});
