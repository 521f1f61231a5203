import { RetailcrmSandbox, sandboxPhoneKey } from './retailcrm.sandbox';

/** Raw HTTP against the sandbox, to pin what it answers regardless of the connector. */
async function send(
  sandbox: RetailcrmSandbox,
  path: string,
  options: { method?: string; key?: string | null; form?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const headers: Record<string, string> = {};
  if (options.key !== null) headers['X-API-KEY'] = options.key ?? sandbox.apiKey;
  let body: string | undefined;
  if (options.form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const res = await fetch(`${sandbox.url}${path}`, {
    method: options.method ?? (body ? 'POST' : 'GET'),
    headers,
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    retryAfter: res.headers.get('retry-after'),
  };
}

const EVENT = JSON.stringify({ phone: '79161234567', type: 'in', codes: ['101'] });

describe('RetailcrmSandbox', () => {
  let sandbox: RetailcrmSandbox;

  beforeEach(async () => {
    sandbox = new RetailcrmSandbox({ limits: { default: 3, telephony: 5 } });
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    await sandbox.start();
  });

  afterEach(() => sandbox.stop());

  it('matches phones by digits with a leading 8 read as 7', () => {
    expect(['+7 (916) 123-45-67', '8 916 123 45 67', '79161234567'].map(sandboxPhoneKey)).toEqual([
      '79161234567',
      '79161234567',
      '79161234567',
    ]);
  });

  it('answers a missing or wrong key with 403 and the RetailCRM message', async () => {
    const missing = await send(sandbox, '/api/v5/telephony/manager?phone=1', { key: null });
    const wrong = await send(sandbox, '/api/v5/telephony/manager?phone=1', { key: 'nope' });
    expect([missing.status, missing.body, wrong.status, wrong.body]).toEqual([
      403,
      { success: false, errorMsg: '"apiKey" is missing.' },
      403,
      { success: false, errorMsg: 'Wrong "apiKey" value.' },
    ]);
  });

  it('rejects requests over the per-second limit of a bucket with 503 and reports the rate that arrived', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send(sandbox, '/api/credentials')).status);
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await send(sandbox, '/api/v5/telephony/call/event', { form: { event: EVENT } })).status,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 503, 503, 200, 200, 200, 200, 200, 503]);
    expect(sandbox.rateLimitRejections).toBe(3);
    expect([
      sandbox.maxPerSecondObserved('default'),
      sandbox.maxPerSecondObserved('telephony'),
    ]).toEqual([5, 6]);
  });

  it('accepts again once the sliding second has passed', async () => {
    for (let i = 0; i < 3; i++) await send(sandbox, '/api/credentials');
    expect((await send(sandbox, '/api/credentials')).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1050));
    expect((await send(sandbox, '/api/credentials')).status).toBe(200);
  });

  it('validates call events like the API', async () => {
    const missing = await send(sandbox, '/api/v5/telephony/call/event', { form: { site: 'x' } });
    const badJson = await send(sandbox, '/api/v5/telephony/call/event', {
      form: { event: '{phone:' },
    });
    const badFields = await send(sandbox, '/api/v5/telephony/call/event', {
      form: { event: JSON.stringify({ phone: '', type: 'ringing', userIds: ['27'] }) },
    });
    expect([missing.body, badJson.body, badFields.body]).toEqual([
      { success: false, errorMsg: "Parameter 'event' is missing" },
      {
        success: false,
        errorMsg: 'Errors in the entity format',
        errors: { event: 'is not valid JSON' },
      },
      {
        success: false,
        errorMsg: 'Errors in the entity format',
        errors: {
          phone: 'This value should not be blank.',
          type: 'must be one of in, out, hangup',
          userIds: 'must be a list of integers',
        },
      },
    ]);
    expect([missing.status, badJson.status, badFields.status]).toEqual([400, 400, 400]);
    expect(sandbox.events).toEqual([]);
  });

  it('refuses an upload of more than 50 calls', async () => {
    const call = { date: '2026-11-25 10:00:00', type: 'in', phone: '7916', result: 'answered' };
    const calls = Array.from({ length: 51 }, (_, i) => ({ ...call, externalId: `c-${i}` }));
    const reply = await send(sandbox, '/api/v5/telephony/calls/upload', {
      form: { calls: JSON.stringify(calls) },
    });
    expect([reply.status, reply.body.errors]).toEqual([400, { calls: 'must hold 1 to 50 calls' }]);
    expect(sandbox.uploadedCalls.size).toBe(0);
  });

  it('answers every request with the outage status during an outage', async () => {
    sandbox.setOutage(150);
    const during = await send(sandbox, '/api/credentials');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await send(sandbox, '/api/credentials');
    expect([during.status, after.status]).toEqual([500, 200]);
  });

  it('injects the requested fault into the next requests only', async () => {
    sandbox.failNext(2, { status: 429, retryAfterS: 4 });
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await send(sandbox, '/api/credentials'));
    expect(replies.map((r) => [r.status, r.retryAfter])).toEqual([
      [429, '4'],
      [429, '4'],
      [200, null],
    ]);
  });

  it('adds the configured latency', async () => {
    await sandbox.stop();
    sandbox = new RetailcrmSandbox({ latencyMs: () => 120 });
    await sandbox.start();
    const started = Date.now();
    await send(sandbox, '/api/credentials');
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('answers unknown methods with 404 and wrong verbs with 405', async () => {
    const unknown = await send(sandbox, '/api/v5/nothing');
    const verb = await send(sandbox, '/api/v5/telephony/call/event');
    expect([unknown.status, verb.status]).toEqual([404, 405]);
  });

  it('stops even while a request hangs', async () => {
    sandbox.hangNext(1, 60_000);
    const pending = fetch(`${sandbox.url}/api/credentials`, {
      headers: { 'X-API-KEY': sandbox.apiKey },
    }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await sandbox.stop();
    expect(await pending).toBe('connection closed');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
