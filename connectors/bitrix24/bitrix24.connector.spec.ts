import type { CallInfo, ConnectorSettings, TokenSet } from '../../src/connector-sdk';
import {
  describeConformance,
  expectConnectorError,
} from '../../src/connector-sdk/testing/conformance';
import {
  actionInput,
  logInput,
  popInput,
  sampleCall,
} from '../../src/connector-sdk/testing/inputs';
import { createTestContext, TestContext } from '../../src/connector-sdk/testing/test-context';
import { bitrix24Connector } from './index';
import { statusCode } from './bitrix24.mapper';
import { Bitrix24Config, Bitrix24Credentials } from './bitrix24.schema';
import { Bitrix24Sandbox, bitrix24ConformanceFixture } from './bitrix24.sandbox';

describeConformance(bitrix24Connector, () => bitrix24ConformanceFixture());

const STARTED = new Date('2026-12-01T10:00:00Z');
type Bitrix24 = ReturnType<typeof bitrix24Connector.create>;

const call = (overrides: Partial<CallInfo> = {}): CallInfo =>
  sampleCall({ startedAt: STARTED, ringing: ['101'], ...overrides });

describe('statusCode', () => {
  it.each([
    ['answered', 'inbound', '200'],
    ['missed', 'inbound', '304'],
    ['cancelled', 'inbound', '304'],
    ['cancelled', 'outbound', '603-S'],
    ['busy', 'outbound', '486'],
    ['failed', 'outbound', '503'],
  ] as const)('%s %s → %s', (result, direction, code) => {
    expect(statusCode(call({ result, direction }))).toBe(code);
  });
});

describe('Bitrix24Connector against the sandbox', () => {
  let sandbox: Bitrix24Sandbox;
  const contexts: TestContext<Bitrix24Config, Bitrix24Credentials>[] = [];

  beforeEach(async () => {
    sandbox = new Bitrix24Sandbox();
    sandbox.addUser({ id: 11, name: 'Ivan', lastName: 'Petrov', extension: '101' });
    sandbox.addUser({ id: 12, name: 'Olga', lastName: 'Orlova', extension: '102' });
    sandbox.addContact({
      id: 797,
      name: 'Anna Smirnova',
      phones: ['8 (916) 123-45-67'],
      assignedById: 11,
    });
    await sandbox.start();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) context.dispose();
    await sandbox.stop();
  });

  function grant(clientEndpoint = `${sandbox.url}/rest/`): TokenSet {
    const issued = sandbox.issueTokens();
    return {
      accessToken: issued.access_token,
      refreshToken: issued.refresh_token,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      extra: {
        clientEndpoint,
        memberId: sandbox.memberId,
        applicationToken: sandbox.applicationToken,
        domain: sandbox.domain,
        userId: '1',
      },
    };
  }

  function open(
    o: {
      config?: Partial<Bitrix24Config>;
      settings?: Partial<ConnectorSettings>;
      tokens?: TokenSet;
    } = {},
  ): { connector: Bitrix24; context: TestContext<Bitrix24Config, Bitrix24Credentials> } {
    const context = createTestContext<Bitrix24Config, Bitrix24Credentials>({
      definition: bitrix24Connector,
      config: { portalUrl: sandbox.url, oauthUrl: sandbox.url, timeoutMs: 2000, ...o.config },
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
      tokens: o.tokens ?? grant(),
      settings: o.settings,
    });
    contexts.push(context);
    return { connector: bitrix24Connector.create(context.ctx), context };
  }

  const methods = () => sandbox.requests.map((r) => (r as { restMethod?: string }).restMethod);

  it('registers and shows a ring group of any size in one batch request, arrays PHP-style', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => 100 + i);
    for (const id of ids)
      sandbox.addUser({ id, name: `Agent ${id}`, extension: String(id + 1000) });
    const { connector } = open();
    const ringing = call({
      status: 'ringing',
      result: null,
      ringing: ids.map((id) => String(id + 1000)),
    });
    await connector.showCall(
      popInput(ringing, {
        extensions: ringing.ringing,
        crmUserIds: [],
        agents: ringing.ringing.map((extension) => ({ extension })),
      }),
    );
    // One directory read, then one batch: register (no card of its own) and show to all 60.
    expect(methods()).toEqual(['user.get', 'user.get', 'batch']);
    const [registered] = sandbox.calls();
    expect(registered.params).toMatchObject({ SHOW: '0', TYPE: '2', EXTERNAL_CALL_ID: 'c-42' });
    expect(sandbox.cards(registered.CALL_ID)?.shown.sort()).toEqual([...ids].sort());
    const batch = sandbox.requests.find((r) => r.path.endsWith('/batch'));
    expect(decodeURIComponent(batch?.rawBody ?? '')).toContain('USER_ID[59]=159');
  });

  it('finishes calls in one batch, registering the ones no pop registered, with the right codes', async () => {
    const { connector } = open();
    const calls = [
      call({
        callId: 'o-1',
        direction: 'outbound',
        result: 'answered',
        duration: 30,
        extension: '101',
        crmUserId: '11',
      }),
      call({
        callId: 'o-2',
        direction: 'outbound',
        result: 'busy',
        duration: 0,
        extension: '102',
        crmUserId: '12',
      }),
      call({ callId: 'i-3', result: 'missed', duration: 0, extension: null }),
    ];
    const outcomes = await connector.logCalls(logInput(calls));
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
    expect(methods().filter((m) => m === 'batch')).toHaveLength(1);
    const stats = sandbox.statistics();
    expect(
      stats.map((s) => [s.EXTERNAL_CALL_ID, s.CALL_FAILED_CODE, s.CALL_DURATION, s.PORTAL_USER_ID]),
    ).toEqual([
      ['o-1', '200', 30, 11],
      ['o-2', '486', 0, 12],
      ['i-3', '304', 0, 11],
    ]);
    expect(sandbox.calls().map((c) => c.type)).toEqual([1, 1, 2]);
  });

  it('does not finish twice when the reply to a finish was lost', async () => {
    const { connector } = open();
    const ended = call({ callId: 'lost-1', crmUserId: '11' });
    sandbox.loseReplyNext(1, '/rest/batch');
    await expect(connector.logCalls(logInput([ended]))).rejects.toThrow();
    expect(sandbox.statistics()).toHaveLength(1);
    const [outcome] = await connector.logCalls(logInput([ended]));
    expect(outcome).toMatchObject({ ok: true, externalId: String(sandbox.statistics()[0].ID) });
    expect(sandbox.statistics()).toHaveLength(1);
    expect(sandbox.calls()).toHaveLength(1);
  });

  it('attaches a known recording with the finish, and the recording action then sends nothing', async () => {
    const files = await import('node:http');
    const server = files.createServer((_req, res) => res.end(Buffer.from('ID3-recording')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const { connector } = open();
      const ended = call({
        callId: 'rec-1',
        crmUserId: '11',
        recordingUrl: `http://127.0.0.1:${port}/r/rec-1.mp3`,
      });
      await connector.logCalls(logInput([ended]));
      const [registered] = sandbox.calls();
      expect(sandbox.records(registered.CALL_ID)?.bytes.toString()).toBe('ID3-recording');
      const before = sandbox.requests.length;
      await connector.attachRecording(actionInput(ended, 'recording'));
      expect(sandbox.requests.length).toBe(before);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('uses the lead Bitrix24 made at registration for an unknown caller, once', async () => {
    const { connector } = open({ settings: { createLeadFor: 'unknown' } });
    const unknown = call({ callId: 'u-1', customerPhone: '+74990001122', crmUserId: '11' });
    const first = await connector.createLead({ ...actionInput(unknown, 'lead'), contact: null });
    expect(sandbox.calls()[0].params.CRM_CREATE).toBe('1');
    expect(sandbox.leads()).toHaveLength(1);
    expect(first.externalId).toBe(String(sandbox.leads()[0].ID));
    expect(await connector.findLead(actionInput(unknown, 'lead'))).toEqual(first);
    expect(sandbox.leads()).toHaveLength(1);
  });

  it('finds a lead of its own by the action key before creating another', async () => {
    const { connector } = open();
    const missed = call({
      callId: 'm-1',
      customerPhone: '+74990001122',
      result: 'missed',
      crmUserId: '11',
    });
    const created = await connector.createLead({ ...actionInput(missed, 'lead'), contact: null });
    expect(sandbox.leads()[0]).toMatchObject({
      ORIGIN_ID: 'm-1:lead',
      SOURCE_ID: 'CALL',
      ASSIGNED_BY_ID: 11,
    });
    const { connector: other } = open();
    expect(await other.findLead(actionInput(missed, 'lead'))).toEqual(created);
  });

  it('waits until operating_reset_at when a method has spent its time budget', async () => {
    const { connector } = open();
    sandbox.operationLimit('telephony.externalcall.searchcrmentities', 30_000);
    const err = await expectConnectorError(
      connector.findContact({ phone: '+79161234567' }),
      'rate_limited',
    );
    expect(err.retryAfterMs).toBeGreaterThan(25_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(31_000);
  });

  it('reads QUERY_LIMIT_EXCEEDED as rate_limited', async () => {
    await sandbox.stop();
    sandbox = new Bitrix24Sandbox({ burst: 1, drainPerSecond: 0.1 });
    sandbox.addUser({ id: 11, name: 'Ivan', extension: '101' });
    await sandbox.start();
    const { connector } = open();
    await connector.findContact({ phone: '+79161234567' });
    const err = await expectConnectorError(
      connector.findContact({ phone: '+79161234567' }),
      'rate_limited',
    );
    expect(err.message).toContain('QUERY_LIMIT_EXCEEDED');
  });

  it('names the cause when the telephony methods are reached through a webhook', async () => {
    const secret = sandbox.addWebhook(11);
    const { connector } = open({ tokens: grant(`${sandbox.url}/rest/11/${secret}/`) });
    const err = await expectConnectorError(
      connector.logCalls(logInput([call({ crmUserId: '11' })])),
      'auth_invalid',
    );
    expect(err.message).toContain('WRONG_AUTH_TYPE');
    expect(err.message).toContain('installed as a Bitrix24 application');
  });

  it('refreshes an expired token once and keeps the rotated refresh token and the install extras', async () => {
    const tokens = grant();
    const { connector, context } = open({ tokens });
    sandbox.expireAccessTokens();
    await expect(connector.findContact({ phone: '+79161234567' })).resolves.toMatchObject({
      id: '797',
    });
    expect(sandbox.refreshCount).toBe(1);
    expect(context.vault.writes).toHaveLength(1);
    const [next] = context.vault.writes;
    expect(next.refreshToken).not.toBe(tokens.refreshToken);
    expect(next.extra).toMatchObject({
      applicationToken: sandbox.applicationToken,
      memberId: sandbox.memberId,
    });
  });

  it('registers missing lines and binds click-to-call once, however often install runs', async () => {
    const { connector, context } = open({
      config: { lines: ['+7 495 765-43-21'.replace(/\D/g, ''), '74951112233'] },
    });
    await connector.install({ agents: [] });
    await connector.install({ agents: [] });
    expect(
      sandbox
        .lines()
        .map((l) => l.NUMBER)
        .sort(),
    ).toEqual(['74951112233', '74957654321']);
    expect(sandbox.bindings()).toEqual([
      expect.objectContaining({
        event: 'ONEXTERNALCALLSTART',
        handler: context.ctx.callbackUrl('events'),
      }),
    ]);
    // The second run found everything in place: two reads, no batch.
    expect(methods().filter((m) => m === 'batch')).toHaveLength(1);
  });

  it('refuses an install from another portal, and events without the install token', async () => {
    const { connector } = open({ tokens: undefined });
    const other = new Bitrix24Sandbox({ clientId: 'local.other.app' });
    await other.start();
    try {
      const body = (s: Bitrix24Sandbox, tokens = s.issueTokens()) => ({
        event: 'ONAPPINSTALL',
        'auth[access_token]': tokens.access_token,
        'auth[refresh_token]': tokens.refresh_token,
        'auth[client_endpoint]': tokens.client_endpoint,
        'auth[member_id]': s.memberId,
        'auth[application_token]': s.applicationToken,
      });
      // The configured portal is this sandbox: the other one's endpoint is refused.
      const elsewhere = await connector.handleCallback({
        action: 'install',
        method: 'POST',
        query: {},
        body: body(other),
      });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.grant).toBeUndefined();
      const event = await connector.handleCallback({
        action: 'events',
        method: 'POST',
        query: {},
        body: { event: 'ONEXTERNALCALLSTART', 'auth[application_token]': 'guess' },
      });
      expect(event.status).toBe(401);
      expect(event.originate).toBeUndefined();
    } finally {
      await other.stop();
    }
  });
});
