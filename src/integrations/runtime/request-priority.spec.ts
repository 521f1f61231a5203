import { RequestPriority, withReserve } from './request-priority';

describe('request priority', () => {
  it('counts requests outside any action as urgent, and a non-pop action as not', async () => {
    expect(RequestPriority.urgent()).toBe(true);
    await RequestPriority.run(false, async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(RequestPriority.urgent()).toBe(false);
    });
    await RequestPriority.run(true, async () => expect(RequestPriority.urgent()).toBe(true));
  });

  it('keeps 40 % of a leaky bucket for urgent requests and leaves windows whole', () => {
    const leaky = { name: 'default', requestsPerSecond: 2, burst: 45 };
    expect(withReserve(leaky, true)).toBe(leaky);
    expect(withReserve(leaky, false)).toEqual({ ...leaky, burst: 27 });
    expect(withReserve({ ...leaky, burst: 1 }, false).burst).toBe(1);
    const window = { name: 'default', requestsPerSecond: 10 };
    expect(withReserve(window, false)).toBe(window);
  });
});
