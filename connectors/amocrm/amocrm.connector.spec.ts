import type { CallInfo } from '../../src/connector-sdk';
import {
  describeConformance,
  expectConnectorError,
} from '../../src/connector-sdk/testing/conformance';
import { leadInput, logInput, sampleCall } from '../../src/connector-sdk/testing/inputs';
import { createTestContext, TestContext } from '../../src/connector-sdk/testing/test-context';
import { amocrmConnector } from './index';
import { AmocrmConfig, AmocrmCredentials } from './amocrm.schema';
import { AmocrmSandbox, amocrmConformanceFixture } from './amocrm.sandbox';

describeConformance(amocrmConnector, () => amocrmConformanceFixture());

const REDIRECT = 'https://hub.example.com/v1/crm/amocrm/oauth';
const STARTED = new Date('2026-12-01T10:00:00Z');

const call = (overrides: Partial<CallInfo> = {}): CallInfo =>
  sampleCall({
    crmUserId: '5001',
    startedAt: STARTED,
    recordingUrl: 'https://hub.example.com/v1/recordings/tok/c-42.mp3',
    ...overrides,
  });
const logItems = logInput;

type Amocrm = ReturnType<typeof amocrmConnector.create>;

describe('AmocrmConnector against the sandbox', () => {
  let sandbox: AmocrmSandbox;
  let token: string;
  const contexts: TestContext<AmocrmConfig, AmocrmCredentials>[] = [];

  beforeEach(async () => {
    sandbox = new AmocrmSandbox();
    sandbox.addUser({ id: 5001, name: 'Ivan Petrov' });
    sandbox.addUser({ id: 5002, name: 'Olga Orlova' });
    sandbox.addContact({
      id: 7001,
      name: 'Anna Smirnova',
      phones: ['8 (916) 123-45-67'],
      responsibleUserId: 5001,
    });
    await sandbox.start();
    token = sandbox.issueLongLivedToken();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) context.dispose();
    await sandbox.stop();
  });

  function open(
    config: Partial<AmocrmConfig> = {},
    credentials: AmocrmCredentials = { longLivedToken: token },
  ): { connector: Amocrm; context: TestContext<AmocrmConfig, AmocrmCredentials> } {
    const context = createTestContext<AmocrmConfig, AmocrmCredentials>({
      definition: amocrmConnector,
      config: {
        baseDomain: sandbox.accountHost,
        clientId: sandbox.clientId,
        apiUrl: sandbox.url,
        timeoutMs: 2000,
        ...config,
      },
      credentials,
      publicUrl: 'https://hub.example.com',
    });
    contexts.push(context);
    return { connector: amocrmConnector.create(context.ctx), context };
  }

  describe('finding the caller', () => {
    it('finds a contact stored in another spelling by its last ten digits, with its owner', async () => {
      const { connector } = open();
      expect(await connector.findContact({ phone: '+79161234567' })).toEqual({
        id: '7001',
        name: 'Anna Smirnova',
        url: `https://${sandbox.accountHost}/contacts/detail/7001`,
        responsible: { crmUserId: '5001' },
      });
      expect(await connector.findResponsible({ phone: '+79161234567' })).toEqual({
        crmUserId: '5001',
      });
      const lookups = sandbox.requests.filter((r) => r.path === '/api/v4/contacts');
      expect(lookups.map((r) => r.query.query)).toEqual(['9161234567', '9161234567']);
    });

    it('ignores a contact the full-text query finds for another number', async () => {
      // The query's digits are in this number, but it is another one (an office extension).
      sandbox.addContact({
        name: 'Office',
        phones: ['+7 495 765-43-21 доб. 12'],
        responsibleUserId: 5002,
      });
      const { connector } = open();
      expect(await connector.findContact({ phone: '+74957654321' })).toBeNull();
      const [lookup] = sandbox.requests.filter((r) => r.path === '/api/v4/contacts');
      expect(lookup.query.query).toBe('4957654321');
    });

    it('answers null for a number amoCRM does not know (204)', async () => {
      const { connector } = open();
      expect(await connector.findContact({ phone: '+74990001122' })).toBeNull();
    });
  });

  describe('users', () => {
    it('lists every user of the account, page after page', async () => {
      for (let i = 0; i < 260; i++) sandbox.addUser({ id: 6000 + i, name: `User ${i}` });
      const { connector } = open();
      const users = await connector.listUsers();
      expect(users).toHaveLength(262);
      expect(users[0]).toEqual({ crmUserId: '5001', name: 'Ivan Petrov' });
      expect(users.at(-1)).toEqual({ crmUserId: '6259', name: 'User 259' });
      expect(sandbox.requests.filter((r) => r.path === '/api/v4/users')).toHaveLength(2);
    });
  });

  describe('screen pop', () => {
    it('notifies the ringing users of an inbound call, and only them', async () => {
      const { connector } = open();
      await connector.showCall({
        call: call({ status: 'ringing', result: null }),
        target: { extensions: ['101', '102', '103'], crmUserIds: ['5001', '5002'] },
        idempotencyKey: 'c-42:pop',
      });
      expect(sandbox.popups).toEqual([
        { phone: '+79161234567', users: [5001, 5002], at: expect.any(Number) },
      ]);
      // No CRM user to show it to, or not an inbound call: nothing is sent.
      await connector.showCall({
        call: call(),
        target: { extensions: ['103'], crmUserIds: [] },
        idempotencyKey: 'c-43:pop',
      });
      await connector.showCall({
        call: call({ direction: 'outbound' }),
        target: { extensions: ['101'], crmUserIds: ['5001'] },
        idempotencyKey: 'c-44:pop',
      });
      expect(sandbox.popups).toHaveLength(1);
      await connector.hideCall({
        call: call(),
        target: { extensions: ['101'], crmUserIds: ['5001'] },
        idempotencyKey: 'c-42:pop',
      });
      expect(sandbox.requests.filter((r) => r.path === '/api/v2/events')).toHaveLength(1);
    });
  });

  describe('call log', () => {
    it('logs an answered call with its uniq, agent, status and recording link', async () => {
      const { connector } = open();
      const [outcome] = await connector.logCalls(logItems([call()]));
      expect(outcome).toMatchObject({ callId: 'c-42', ok: true, externalId: expect.any(String) });
      expect(sandbox.callsWithUniq('c-42')).toHaveLength(1);
      expect(sandbox.callsWithUniq('c-42')[0]).toMatchObject({
        direction: 'inbound',
        uniq: 'c-42',
        duration: 95,
        source: 'Telephony hub',
        phone: '+79161234567',
        link: 'https://hub.example.com/v1/recordings/tok/c-42.mp3',
        call_status: 4,
        call_responsible: 5001,
        responsible_user_id: 5001,
        created_by: 5001,
        created_at: Math.floor(STARTED.getTime() / 1000),
        entity_type: 'contact',
        entity_id: 7001,
      });
    });

    it('files an inbound call from an unknown number as an incoming lead with the same uniq', async () => {
      const { connector } = open();
      const known = call({ callId: 'c-known' });
      const unknown = call({
        callId: 'c-unknown',
        customerPhone: '+74990001122',
        result: 'missed',
        duration: 0,
      });
      const outbound = call({
        callId: 'c-out',
        direction: 'outbound',
        customerPhone: '+74990003344',
      });
      const outcomes = await connector.logCalls(logItems([known, unknown, outbound]));
      expect(outcomes.map((o) => [o.callId, o.ok])).toEqual([
        ['c-known', true],
        ['c-unknown', true],
        ['c-out', false],
      ]);
      expect(outcomes[2].error).toBe(
        'amoCRM has no contact or company with the number +74990003344',
      );
      expect(sandbox.callsWithUniq('c-known')).toHaveLength(1);
      expect(sandbox.callsWithUniq('c-unknown')).toHaveLength(0);
      expect(sandbox.unsorted.map((u) => u.metadata.uniq)).toEqual(['c-unknown']);
      expect(sandbox.unsorted[0]).toMatchObject({
        source_name: 'Telephony hub',
        metadata: {
          from: '+74990001122',
          phone: '101',
          duration: 0,
          service_code: 'telephony_hub',
        },
      });
      // A retry of the same batch: the incoming lead is not doubled.
      await connector.logCalls(logItems([unknown]));
      expect(sandbox.unsorted).toHaveLength(1);
    });

    it('does not send internal calls, and fails one without a number', async () => {
      const { connector } = open();
      const outcomes = await connector.logCalls(
        logItems([
          call({ callId: 'i-1', direction: 'internal' }),
          call({ callId: 'h-1', customerPhone: null }),
        ]),
      );
      expect(outcomes).toEqual([
        { callId: 'i-1', ok: true },
        {
          callId: 'h-1',
          ok: false,
          error: 'amoCRM logs calls by the client number; this call has none',
        },
      ]);
      expect(sandbox.requests.filter((r) => r.path === '/api/v4/calls')).toHaveLength(0);
    });
  });

  describe('leads', () => {
    it('creates one incoming lead per call, and finds it again', async () => {
      const { connector } = open();
      const missed = call({ callId: 'm-1', customerPhone: '+74990001122', result: 'missed' });
      const first = await connector.createLead(leadInput(missed, null));
      expect(sandbox.unsorted).toHaveLength(1);
      expect(first.externalId).toBe(sandbox.unsorted[0].uid);
      // An attempt whose reply was lost: amoCRM refuses the copy, the first is the answer.
      expect(await connector.createLead(leadInput(missed, null))).toEqual(first);
      expect(sandbox.unsorted).toHaveLength(1);
      expect(await connector.findLead({ call: missed, idempotencyKey: 'm-1:lead' })).toEqual(first);
      expect(
        await connector.findLead({ call: call({ callId: 'm-2' }), idempotencyKey: 'm-2:lead' }),
      ).toBeNull();
    });

    it('creates a lead with its contact in the configured pipeline, findable by its marker', async () => {
      sandbox.addPipeline({ id: 4001, name: 'Calls', statuses: [40011, 40012] });
      const { connector } = open({ createLeadAs: 'lead', pipelineId: 4001, statusId: 40011 });
      const missed = call({ callId: 'm-3', customerPhone: '+74990001122', result: 'missed' });
      const created = await connector.createLead(leadInput(missed, null));
      expect(sandbox.leads).toHaveLength(1);
      expect(sandbox.leads[0]).toMatchObject({
        id: Number(created.externalId),
        name: 'Missed call from +74990001122 [#m-3]',
        pipeline_id: 4001,
        status_id: 40011,
        responsible_user_id: 5001,
      });
      expect(await connector.findLead({ call: missed, idempotencyKey: 'm-3:lead' })).toEqual(
        created,
      );
      expect(
        await connector.findLead({ call: call({ callId: 'm-4' }), idempotencyKey: 'm-4:lead' }),
      ).toBeNull();
      // A known caller's lead goes to their contact and owner.
      const contact = { id: '7001', responsible: { crmUserId: '5002' } };
      await connector.createLead(leadInput(call({ callId: 'm-5', result: 'missed' }), contact));
      expect(sandbox.leads[1]).toMatchObject({ contact_id: 7001, responsible_user_id: 5002 });
    });

    it('names the field amoCRM refused', async () => {
      const { connector } = open({ createLeadAs: 'lead', pipelineId: 999 });
      const err = await expectConnectorError(
        connector.createLead(leadInput(call({ callId: 'm-6' }), null)),
        'rejected',
      );
      expect(err.message).toContain('pipeline_id');
    });
  });

  describe('account states and tokens', () => {
    it('reads an unpaid or blocked account as needing an admin, not as a retry', async () => {
      const { connector } = open();
      sandbox.accountState = 'unpaid';
      const unpaid = await expectConnectorError(connector.verifyCredentials(), 'auth_invalid');
      expect(unpaid.message).toContain('not paid');
      sandbox.accountState = 'blocked';
      const blocked = await expectConnectorError(connector.verifyCredentials(), 'auth_invalid');
      expect(blocked.message).toContain('blocked');
    });

    it('exchanges the code at the referer account once, and refreshes single-flight', async () => {
      const { connector, context } = open({}, { clientSecret: sandbox.clientSecret });
      const { code, referer } = sandbox.consent(REDIRECT);
      await context.session!.exchange(code, { referer });
      expect(sandbox.grants.authorization_code).toBe(1);
      expect(await context.vault.read()).toMatchObject({
        accessToken: expect.any(String),
        refreshToken: expect.any(String),
        extra: { baseDomain: sandbox.accountHost },
      });
      await expect(context.session!.exchange(code, { referer })).rejects.toMatchObject({
        code: 'auth_invalid',
      });

      // The access token expires: parallel requests refresh once, the spent token is never sent.
      sandbox.clockOffsetMs = 86_400_000 + 1000;
      const found = await Promise.all(
        // Three, and their three retries: inside amoCRM's 7 requests a second.
        Array.from({ length: 3 }, () => connector.findContact({ phone: '+79161234567' })),
      );
      expect(found.map((c) => c?.id)).toEqual(Array(3).fill('7001'));
      expect(sandbox.grants.refresh_token).toBe(1);
      expect(sandbox.reusedRefreshTokens).toBe(0);
    });

    it('refuses a redirect whose referer is not an amoCRM account', async () => {
      const { context } = open({}, { clientSecret: sandbox.clientSecret });
      const { code } = sandbox.consent(REDIRECT);
      const err = await expectConnectorError(
        context.session!.exchange(code, { referer: 'evil.example.com' }),
        'rejected',
      );
      expect(err.message).toBe('referer: not an amoCRM or Kommo account host');
      expect(sandbox.grants.authorization_code).toBe(0);
    });
  });
});
