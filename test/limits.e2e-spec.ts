import { connect, Socket } from 'node:net';
import { Clock } from '../src/common/clock';
import { CreatedTenant, createTenant, startTestApp, TestApp } from './support/test-app';

/** Opens a connection, writes `text`, then sends nothing more; resolves when the hub hangs up. */
function dribble(port: number, text: string): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect({ host: '127.0.0.1', port }, () => socket.write(text));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ closedAfterMs: Date.now() - started, answer }));
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the hub kept the connection open'));
    }, 15000);
  });
}

/** Slow senders cannot hold the hub's sockets: a request must arrive whole in time. */
describe('limits: request timeouts', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp({ HUB_REQUEST_TIMEOUT_S: '2' });
    port = Number(new URL(t.url).port);
  }, 60000);
  afterAll(async () => {
    await t?.close();
  });

  it('cuts off a body that never finishes', async () => {
    const { closedAfterMs, answer } = await dribble(
      port,
      'POST /v1/tenants HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n' +
        'Content-Length: 1000\r\n\r\n{"name":',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // 2 s allowed, checked every second.
    expect(closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(closedAfterMs).toBeLessThan(5000);
  });

  it('cuts off headers that never finish', async () => {
    const { closedAfterMs } = await dribble(port, 'GET /health/live HTTP/1.1\r\nHost: hub\r\n');
    expect(closedAfterMs).toBeLessThan(5000);
  });

  it('still answers a prompt request on the same hub', async () => {
    expect((await t.request('GET', '/health/live')).status).toBe(200);
  });
});

/** Limits per source address and per tenant, shared by the instances through Redis. */
describe('limits: request rates', () => {
  let a: TestApp;
  let b: TestApp;
  let tenant: CreatedTenant;
  let other: CreatedTenant;

  beforeAll(async () => {
    const limits = {
      HUB_AUTH_FAILURES_PER_MIN: '5',
      HUB_ANON_REQUESTS_PER_MIN: '8',
      HUB_TENANT_REQUESTS_PER_S: '20',
    };
    a = await startTestApp(limits);
    // A second instance on the same database and Redis prefix.
    b = await startTestApp({
      ...limits,
      DATABASE_URL: a.config.databaseUrl,
      HUB_REDIS_PREFIX: a.config.redisPrefix,
    });
    tenant = await createTenant(a, { name: 'Limited' });
    other = await createTenant(a, { name: 'Neighbour' });
  }, 60000);
  afterAll(async () => {
    await b?.app.close();
    await a?.close();
  });

  const route = (app: TestApp, t: CreatedTenant, apiKey = t.apiKey) =>
    app.request('POST', `/v1/pbx/${t.id}/route`, {
      body: { callId: `r-${Math.random()}`, from: '+79161234567' },
      headers: { 'x-api-key': apiKey },
    });

  it('limits authenticated requests per tenant across instances, and only that tenant', async () => {
    // The windows are whole seconds of the hub's clock: hold both instances' clocks inside one
    // second for the bursts, so that a slow burst cannot straddle two windows.
    const inside = Math.floor(Date.now() / 1000) * 1000 + 500;
    const clocks = [a, b].map((app) => jest.spyOn(app.app.get(Clock), 'nowMs'));
    clocks.forEach((c) => c.mockReturnValue(inside));
    const first = await Promise.all(Array.from({ length: 30 }, () => route(a, tenant)));
    // The instances add up their counts every 200 ms.
    await new Promise((r) => setTimeout(r, 350));
    const second = await Promise.all(Array.from({ length: 10 }, () => route(b, tenant)));
    const neighbour = await route(b, other);
    clocks.forEach((c) => c.mockRestore());

    expect(first.filter((r) => r.status === 200)).toHaveLength(20);
    const refused = first.filter((r) => r.status === 429);
    expect(refused).toHaveLength(10);
    expect(refused[0].headers.get('retry-after')).toBe('1');
    expect(refused[0].body.message).toContain('retry after 1 s');
    expect(refused[0].body.message).toMatch(/request limit/);
    // The other instance knows the tenant's count: it refuses too, but not another tenant.
    expect(second.map((r) => r.status)).toEqual(Array(10).fill(429));
    expect(neighbour.status).toBe(200);
  });

  it('refuses an address after repeated failed authentication, on every instance', async () => {
    for (let i = 0; i < 3; i++) expect((await route(a, other, 'wrong-key')).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await route(b, other, 'wrong-key')).status).toBe(401);
    // The sixth failure was counted on b: the shared count is over 5 for both instances.
    expect((await route(a, other, 'wrong-key')).status).toBe(401);
    const refused = await route(a, other);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await route(b, other)).status).toBe(429);
    // Monitoring stays reachable.
    expect((await a.request('GET', '/health/live', { admin: false })).status).toBe(200);
  });
});
