import { SseStream } from './support/sse';
import { CreatedTenant, createTenant, postEvents, startTestApp, TestApp } from './support/test-app';

/** GET …/calls/stream: the tenant's calls as they change, across instances, and no one else's. */
describe('calls stream', () => {
  let a: TestApp;
  let b: TestApp;
  let tenant: CreatedTenant;
  let other: CreatedTenant;
  const open: SseStream[] = [];

  beforeAll(async () => {
    a = await startTestApp();
    // A second instance on the same database and Redis: the stream is open on it.
    b = await startTestApp({
      DATABASE_URL: a.config.databaseUrl,
      HUB_REDIS_PREFIX: a.config.redisPrefix,
    });
    tenant = await createTenant(a, { name: 'Live' });
    other = await createTenant(a, { name: 'Other' });
  }, 60000);
  afterAll(async () => {
    for (const s of open) s.close();
    await b?.close();
    await a?.close();
  });

  const watch = async (app: TestApp, t: CreatedTenant, key = t.apiKey) => {
    const stream = await SseStream.open(`${app.url}/v1/tenants/${t.id}/calls/stream`, {
      'x-api-key': key,
    });
    open.push(stream);
    return stream;
  };
  const ringing = (t: CreatedTenant, callId: string) =>
    postEvents(a, t, {
      events: [
        {
          id: `${callId}-r`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from: '+79161234567',
          to: '+74957654321',
          extension: '101',
          at: new Date().toISOString(),
        },
      ],
    });

  it("sends each change of the tenant's calls as the list shows it, processed on another instance", async () => {
    const stream = await watch(b, tenant);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await ringing(other, 'not-mine');
    await ringing(tenant, 'live-1');
    const ring = await stream.next((e) => e.event === 'call');
    expect(ring.data).toMatchObject({ callId: 'live-1', status: 'ringing', ringing: ['101'] });
    await postEvents(a, tenant, {
      events: [
        {
          id: 'live-1-e',
          callId: 'live-1',
          type: 'call.ended',
          result: 'missed',
          duration: 0,
          at: new Date().toISOString(),
        },
      ],
    });
    const end = await stream.next(
      (e) => e.event === 'call' && (e.data as { status: string }).status === 'ended',
    );
    expect(end.data).toMatchObject({ callId: 'live-1', result: 'missed' });
    expect(stream.events.some((e) => (e.data as { callId?: string })?.callId === 'not-mine')).toBe(
      false,
    );
  });

  it("refuses another tenant's key", async () => {
    const stream = await watch(b, tenant, other.apiKey);
    expect(stream.status).toBe(401);
  });
});
