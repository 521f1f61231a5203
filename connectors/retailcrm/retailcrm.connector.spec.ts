import type { CallInfo, ConnectorError, PopTarget } from '../../src/connector-sdk';
import {
  describeConformance,
  expectConnectorError,
} from '../../src/connector-sdk/testing/conformance';
import { leadInput, logInput, popInput, sampleCall } from '../../src/connector-sdk/testing/inputs';
import { createTestContext, TestContext } from '../../src/connector-sdk/testing/test-context';
import { retailcrmConnector } from './index';
import { leadMarker, orderExternalId } from './retailcrm.mapper';
import { RetailcrmConfig, RetailcrmCredentials } from './retailcrm.schema';
import { RetailcrmSandbox, retailcrmConformanceFixture } from './retailcrm.sandbox';

describeConformance(retailcrmConnector, () => retailcrmConformanceFixture());

const PUBLIC_URL = 'https://hub.example.com';
const FORM = 'application/x-www-form-urlencoded';
const STARTED = new Date('2026-11-25T10:00:00Z');

const call = (overrides: Partial<CallInfo> = {}): CallInfo =>
  sampleCall({ crmUserId: '27', startedAt: STARTED, ...overrides });

const TARGET: PopTarget = { extensions: ['101', '102'], crmUserIds: ['27', '31'] };

const pop = popInput;
const items = logInput;

type Retailcrm = ReturnType<typeof retailcrmConnector.create>;

describe('RetailcrmConnector against the sandbox', () => {
  let sandbox: RetailcrmSandbox;
  const contexts: TestContext<RetailcrmConfig, RetailcrmCredentials>[] = [];

  beforeEach(async () => {
    sandbox = new RetailcrmSandbox();
    sandbox.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
    sandbox.addUser({ id: 31, firstName: 'Olga', lastName: 'Orlova', code: '102' });
    sandbox.addCustomer({
      id: 7,
      firstName: 'Anna',
      lastName: 'Smirnova',
      phones: ['+7 916 123-45-67'],
      managerId: 27,
    });
    await sandbox.start();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) context.dispose();
    await sandbox.stop();
  });

  function open(
    config: Partial<RetailcrmConfig> = {},
    credentials: Partial<RetailcrmCredentials> = {},
  ): { connector: Retailcrm; test: TestContext<RetailcrmConfig, RetailcrmCredentials> } {
    const test = createTestContext({
      definition: retailcrmConnector,
      config: { url: sandbox.url, ...config },
      credentials: { apiKey: sandbox.apiKey, ...credentials },
      publicUrl: PUBLIC_URL,
      integrationId: 'int-1',
    });
    contexts.push(test);
    return { connector: retailcrmConnector.create(test.ctx), test };
  }

  function lastRequest(): {
    method: string;
    path: string;
    query: Record<string, string>;
    form: Record<string, unknown>;
  } {
    const { method, path, query, form } = sandbox.requests[sandbox.requests.length - 1];
    return { method, path, query, form };
  }

  describe('lookup', () => {
    it('maps the customer, its card link and its manager', async () => {
      const { connector } = open();
      await expect(connector.findContact({ phone: '+79161234567' })).resolves.toEqual({
        id: '7',
        name: 'Anna Smirnova',
        url: `${sandbox.url}/customers/7`,
        responsible: { crmUserId: '27', name: 'Ivan Petrov', extension: '101' },
      });
    });

    it('retries an unknown Russian number once in the 8... spelling', async () => {
      const { connector } = open();
      await expect(connector.findContact({ phone: '+74990001122' })).resolves.toBeNull();
      expect(sandbox.requests.map((r) => r.query)).toEqual([
        { phone: '74990001122', details: '1', ignoreStatus: '1' },
        { phone: '84990001122', details: '1', ignoreStatus: '1' },
      ]);
    });

    it('asks once for a non-Russian number', async () => {
      const { connector } = open();
      await expect(connector.findResponsible({ phone: '+380441234567' })).resolves.toBeNull();
      expect(sandbox.requests.map((r) => r.query.phone)).toEqual(['380441234567']);
    });

    it('returns a contact without responsible when the customer has no manager', async () => {
      sandbox.addCustomer({ id: 8, firstName: 'Boris', phones: ['89035550000'] });
      const { connector } = open();
      await expect(connector.findContact({ phone: '+79035550000' })).resolves.toEqual({
        id: '8',
        name: 'Boris',
        url: `${sandbox.url}/customers/8`,
        responsible: null,
      });
    });
  });

  describe('screen pop', () => {
    it('sends an "in" event to the ringing extensions and users', async () => {
      const { connector } = open();
      await connector.showCall(pop(call({ status: 'ringing', result: null }), TARGET));
      expect(lastRequest()).toEqual({
        method: 'POST',
        path: '/api/v5/telephony/call/event',
        query: {},
        form: {
          event: {
            phone: '79161234567',
            type: 'in',
            codes: ['101', '102'],
            userIds: [27, 31],
            callExternalId: 'c-42',
            externalPhone: '74957654321',
          },
        },
      });
      const { headers } = sandbox.requests[0];
      expect([headers['content-type'], headers['x-api-key']]).toEqual([FORM, 'sandbox-key']);
    });

    it('sends "out" for outbound calls and the site when configured', async () => {
      const { connector } = open({ site: 'main-shop' });
      await connector.showCall(
        pop(call({ direction: 'outbound', line: null }), {
          extensions: ['101'],
          crmUserIds: [],
        }),
      );
      expect(lastRequest().form).toEqual({
        event: {
          phone: '79161234567',
          type: 'out',
          codes: ['101'],
          callExternalId: 'c-42',
          site: 'main-shop',
        },
        site: 'main-shop',
      });
    });

    it.each([
      ['answered', 'answered'],
      ['busy', 'busy'],
      ['cancelled', 'cancel'],
      ['failed', 'failed'],
      ['missed', 'no answered'],
    ] as const)(
      'closes the card of a %s call with hangupStatus "%s"',
      async (result, hangupStatus) => {
        const { connector } = open();
        await connector.hideCall(pop(call({ result }), TARGET));
        expect(lastRequest().form).toEqual({
          event: {
            phone: '79161234567',
            type: 'hangup',
            hangupStatus,
            codes: ['101', '102'],
            userIds: [27, 31],
            callExternalId: 'c-42',
            externalPhone: '74957654321',
          },
        });
      },
    );

    it('refuses to pop a call without a customer phone, without asking RetailCRM', async () => {
      const { connector } = open();
      await expectConnectorError(
        connector.showCall(pop(call({ customerPhone: null }), TARGET)),
        'rejected',
      );
      expect(sandbox.requests).toHaveLength(0);
    });

    it('logs the extensions RetailCRM does not know', async () => {
      const { connector, test } = open();
      await connector.showCall(pop(call(), { extensions: ['101', '555'], crmUserIds: ['99'] }));
      expect(test.logs.filter((l) => l.level === 'warn').map((l) => l.data)).toEqual([
        { notExistCodes: ['555'], notExistUsers: [99] },
      ]);
    });
  });

  describe('call log', () => {
    it('uploads a finished call with every known field', async () => {
      const { connector } = open();
      const outcomes = await connector.logCalls(
        items([call({ recordingUrl: 'https://hub.example.com/rec/abc.mp3' })]),
      );
      expect(outcomes).toEqual([{ callId: 'c-42', ok: true, externalId: 'c-42' }]);
      expect(lastRequest()).toEqual({
        method: 'POST',
        path: '/api/v5/telephony/calls/upload',
        query: {},
        form: {
          calls: [
            {
              date: '2026-11-25 10:00:00',
              type: 'in',
              phone: '79161234567',
              result: 'answered',
              externalId: 'c-42',
              code: '101',
              userId: 27,
              duration: 95,
              durationWaiting: 7,
              recordUrl: 'https://hub.example.com/rec/abc.mp3',
              externalPhone: '74957654321',
            },
          ],
        },
      });
    });

    it('writes dates in the configured time zone and sends the site', async () => {
      const { connector } = open({ timezone: 'Europe/Moscow', site: 'main-shop' });
      await connector.logCalls(
        items([
          call({
            result: 'missed',
            extension: null,
            crmUserId: null,
            answeredAt: null,
            duration: 0,
          }),
        ]),
      );
      expect(lastRequest().form).toEqual({
        calls: [
          {
            date: '2026-11-25 13:00:00',
            type: 'in',
            phone: '79161234567',
            result: 'no answer',
            externalId: 'c-42',
            duration: 0,
            durationWaiting: 102,
            externalPhone: '74957654321',
            site: 'main-shop',
          },
        ],
        site: 'main-shop',
      });
    });

    it('uploads more than 50 calls in chunks of 50', async () => {
      const { connector } = open();
      const calls = Array.from({ length: 120 }, (_, i) => call({ callId: `c-${i}` }));
      const outcomes = await connector.logCalls(items(calls));
      const uploads = sandbox.requests.map((r) =>
        (r.form.calls as { externalId: string }[]).map((c) => c.externalId),
      );
      expect(uploads.map((ids) => ids.length)).toEqual([50, 50, 20]);
      expect(uploads.flat()).toEqual(calls.map((c) => c.callId));
      expect(outcomes?.every((o) => o.ok)).toBe(true);
      expect(outcomes?.map((o) => o.callId)).toEqual(calls.map((c) => c.callId));
      expect(sandbox.uploadedCalls.size).toBe(120);
    });

    it('counts a call RetailCRM already has as logged', async () => {
      const { connector } = open();
      await connector.logCalls(items([call()]));
      const again = await connector.logCalls(items([call(), call({ callId: 'c-43' })]));
      expect(again).toEqual([
        { callId: 'c-42', ok: true, externalId: 'c-42' },
        { callId: 'c-43', ok: true, externalId: 'c-43' },
      ]);
      expect([...sandbox.uploadedCalls.keys()]).toEqual(['c-42', 'c-43']);
    });

    it('reports calls RetailCRM cannot take without sending them', async () => {
      const { connector } = open();
      const outcomes = await connector.logCalls(
        items([
          call({ callId: 'int', direction: 'internal' }),
          call({ callId: 'anon', customerPhone: null }),
          call({ callId: 'ok' }),
        ]),
      );
      expect(outcomes).toEqual([
        { callId: 'int', ok: false, error: 'RetailCRM has no history type for internal calls' },
        { callId: 'anon', ok: false, error: 'call has no customer phone' },
        { callId: 'ok', ok: true, externalId: 'ok' },
      ]);
      expect(sandbox.requests).toHaveLength(1);
    });

    it('throws when an upload fails so the core retries the batch', async () => {
      const { connector } = open();
      sandbox.failNext(1, { status: 503, retryAfterS: 3 });
      const err = await expectConnectorError(connector.logCalls(items([call()])), 'rate_limited');
      expect(err.retryAfterMs).toBe(3000);
    });
  });

  describe('lead', () => {
    const NOW = new Date('2026-11-25T10:05:30Z');

    it('creates a call-back task for the responsible manager by default', async () => {
      const { connector, test } = open({ timezone: 'Europe/Moscow' });
      test.ctx.clock = { now: () => NOW };
      const contact = { id: '7', responsible: { crmUserId: '27' } };
      const lead = await connector.createLead(
        leadInput(call({ result: 'missed', crmUserId: null, extension: null }), contact),
      );
      expect(lead).toEqual({ externalId: String(sandbox.tasks[0].id) });
      expect(lastRequest()).toEqual({
        method: 'POST',
        path: '/api/v5/tasks/create',
        query: {},
        form: {
          task: {
            text: `Missed call from +79161234567 (${leadMarker('c-42:lead')})`,
            commentary: 'Call c-42 at 2026-11-25 13:00:00\nLine +74957654321',
            datetime: '2026-11-25 13:05',
            phone: '79161234567',
            performerId: 27,
            customer: { id: 7 },
          },
        },
      });
    });

    it('creates a task without customer or performer for an unknown caller', async () => {
      const { connector, test } = open();
      test.ctx.clock = { now: () => NOW };
      await connector.createLead(
        leadInput(call({ result: 'missed', crmUserId: null, extension: null, line: null }), null),
      );
      expect(lastRequest().form).toEqual({
        task: {
          text: `Missed call from +79161234567 (${leadMarker('c-42:lead')})`,
          commentary: 'Call c-42 at 2026-11-25 10:00:00',
          datetime: '2026-11-25 10:05',
          phone: '79161234567',
        },
      });
    });

    it('creates an order flagged for a call back when configured', async () => {
      const { connector } = open({
        createLeadAs: 'order',
        orderMethod: 'phone',
        site: 'main-shop',
      });
      const lead = await connector.createLead(leadInput(call({ result: 'missed' }), { id: '7' }));
      expect(lead).toEqual({ externalId: String(sandbox.orders[0].id) });
      expect(lastRequest()).toEqual({
        method: 'POST',
        path: '/api/v5/orders/create',
        query: {},
        form: {
          order: {
            externalId: orderExternalId('c-42:lead'),
            phone: '79161234567',
            call: true,
            orderMethod: 'phone',
            managerId: 27,
            customer: { id: 7 },
            managerComment:
              'Missed call from +79161234567\nCall c-42 at 2026-11-25 10:00:00\nLine +74957654321\nExtension 101',
          },
          site: 'main-shop',
        },
      });
    });
  });

  describe('finding the lead an earlier attempt created', () => {
    it.each([
      ['task', '/api/v5/tasks', { 'filter[text]': leadMarker('c-42:lead'), limit: '20' }],
      [
        'order',
        '/api/v5/orders',
        { 'filter[externalIds][]': orderExternalId('c-42:lead'), limit: '20' },
      ],
    ] as const)(
      'finds the %s an earlier attempt made by its key, and nothing for another key',
      async (kind, path, query) => {
        const { connector } = open({ createLeadAs: kind });
        const input = leadInput(call({ result: 'missed' }), null);
        await expect(connector.findLead(input)).resolves.toBeNull();
        const created = await connector.createLead(input);
        sandbox.clearRequests();
        await expect(connector.findLead(input)).resolves.toEqual(created);
        expect(lastRequest()).toEqual({ method: 'GET', path, query, form: {} });
        await expect(
          connector.findLead({ ...input, idempotencyKey: 'c-43:lead' }),
        ).resolves.toBeNull();
      },
    );

    it('is refused a second order with the same externalId by RetailCRM', async () => {
      const { connector } = open({ createLeadAs: 'order' });
      const input = leadInput(call({ result: 'missed' }), null);
      await connector.createLead(input);
      await expectConnectorError(connector.createLead(input), 'rejected');
      expect(sandbox.orders).toHaveLength(1);
    });
  });

  describe('install', () => {
    it('registers the telephony module with the agents as additional codes', async () => {
      const { connector, test } = open({ moduleCode: 'hub-1' });
      await connector.install({
        agents: [
          { extension: '101', crmUserId: '27' },
          { extension: '102', crmUserId: '31', name: 'Olga' },
          { extension: '103', crmUserId: 'not-a-number' },
        ],
      });
      const clientId = test.savedCredentials[0]?.clientId as string;
      expect(clientId).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(test.savedCredentials).toEqual([{ apiKey: 'sandbox-key', clientId }]);
      expect(lastRequest()).toEqual({
        method: 'POST',
        path: '/api/v5/integration-modules/hub-1/edit',
        query: {},
        form: {
          integrationModule: {
            code: 'hub-1',
            integrationCode: 'hub-1',
            active: true,
            name: 'Telephony hub',
            logo: `${PUBLIC_URL}/static/hub.svg`,
            clientId,
            baseUrl: PUBLIC_URL,
            accountUrl: PUBLIC_URL,
            integrations: {
              telephony: {
                makeCallUrl: `${PUBLIC_URL}/v1/crm/retailcrm/int-1/make-call`,
                changeUserStatusUrl: `${PUBLIC_URL}/v1/crm/retailcrm/int-1/user-status`,
                allowEdit: false,
                inputEventSupported: true,
                outputEventSupported: true,
                hangupEventSupported: true,
                additionalCodes: [
                  { userId: 27, code: '101' },
                  { userId: 31, code: '102' },
                ],
              },
            },
          },
        },
      });
      expect(sandbox.modules.get('hub-1')).toEqual(lastRequest().form.integrationModule);
    });

    it('generates the clientId once and reuses it on later installs', async () => {
      const { connector, test } = open();
      await connector.install({ agents: [{ extension: '101', crmUserId: '27' }] });
      await connector.install({ agents: [] });
      const sent = sandbox.requests.map(
        (r) => (r.form.integrationModule as { clientId: string }).clientId,
      );
      expect(test.savedCredentials).toHaveLength(1);
      expect(sent).toEqual([test.savedCredentials[0].clientId, test.savedCredentials[0].clientId]);
      expect(sandbox.requests.map((r) => r.path)).toEqual([
        '/api/v5/integration-modules/telephony-hub/edit',
        '/api/v5/integration-modules/telephony-hub/edit',
      ]);
    });

    it('keeps a clientId that is already stored', async () => {
      const { connector, test } = open({}, { clientId: 'stored-client-id' });
      await connector.install({ agents: [] });
      expect(test.savedCredentials).toEqual([]);
      expect((lastRequest().form.integrationModule as { clientId: string }).clientId).toBe(
        'stored-client-id',
      );
    });

    it('gives two integrations different clientIds', async () => {
      const first = open();
      const second = open();
      await first.connector.install({ agents: [] });
      await second.connector.install({ agents: [] });
      expect(first.test.savedCredentials[0].clientId).not.toEqual(
        second.test.savedCredentials[0].clientId,
      );
    });
  });

  describe('click-to-call callback', () => {
    const clientId = 'secret-client-id-0123456789';

    it('asks the hub to originate from the clicking user to the phone', async () => {
      const { connector } = open({}, { clientId });
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'GET',
        query: { clientId, code: '101', phone: '79161234567', userId: '27' },
        body: {},
      });
      expect(result).toEqual({
        status: 200,
        body: { success: true },
        originate: { extension: '101', to: '79161234567' },
      });
      expect(sandbox.requests).toHaveLength(0);
    });

    it('accepts the parameters in a form body too', async () => {
      const { connector } = open({}, { clientId });
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'POST',
        query: {},
        body: { clientId, code: '102', phone: '+7 916 123-45-67' },
      });
      expect(result?.originate).toEqual({ extension: '102', to: '+7 916 123-45-67' });
    });

    it('answers 403 to a wrong clientId', async () => {
      const { connector } = open({}, { clientId });
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'GET',
        query: { clientId: 'guess', code: '101', phone: '79161234567' },
        body: {},
      });
      expect(result).toEqual({ status: 403, body: { success: false, errorMsg: 'Wrong clientId' } });
    });

    it('answers 403 before install has stored a clientId', async () => {
      const { connector } = open();
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'GET',
        query: { clientId: '', code: '101', phone: '79161234567' },
        body: {},
      });
      expect(result?.status).toBe(403);
    });

    it('accepts the clientId install just generated', async () => {
      const { connector, test } = open();
      await connector.install({ agents: [] });
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'GET',
        query: {
          clientId: test.savedCredentials[0].clientId as string,
          code: '101',
          phone: '79161234567',
        },
        body: {},
      });
      expect(result?.status).toBe(200);
    });

    it.each(['phone', 'code'])('answers 400 naming a missing %s', async (missing) => {
      const { connector } = open({}, { clientId });
      const query: Record<string, string> = { clientId, code: '101', phone: '79161234567' };
      delete query[missing];
      const result = await connector.handleCallback({
        action: 'make-call',
        method: 'GET',
        query,
        body: {},
      });
      expect(result).toEqual({
        status: 400,
        body: { success: false, errorMsg: `Parameter '${missing}' is missing` },
      });
    });

    it('acknowledges a user status change with a valid clientId only', async () => {
      const { connector } = open({}, { clientId });
      const status = (id: string) =>
        connector.handleCallback({
          action: 'user-status',
          method: 'GET',
          query: { clientId: id, userId: '27', code: '101', status: 'break' },
          body: {},
        });
      await expect(status(clientId)).resolves.toEqual({ status: 200, body: { success: true } });
      await expect(status('wrong')).resolves.toEqual({
        status: 403,
        body: { success: false, errorMsg: 'Wrong clientId' },
      });
    });

    it('answers 404 to an unknown action', async () => {
      const { connector } = open({}, { clientId });
      const result = await connector.handleCallback({
        action: 'delete-all',
        method: 'GET',
        query: { clientId },
        body: {},
      });
      expect(result?.status).toBe(404);
    });
  });

  describe('error mapping', () => {
    async function failure(
      fault: Parameters<RetailcrmSandbox['failNext']>[1],
      code: ConnectorError['code'],
    ) {
      const { connector } = open();
      sandbox.failNext(1, fault);
      return expectConnectorError(connector.showCall(pop(call(), TARGET)), code);
    }

    it('reads a missing account (HTML 405) as auth_invalid on the url', async () => {
      const err = await failure(
        { status: 405, body: '<html>Not found</html>', contentType: 'text/html' },
        'auth_invalid',
      );
      expect([err.message, err.details.field]).toEqual([
        'RetailCRM telephony/call/event: Account does not exist',
        'url',
      ]);
    });

    it('reads "Access denied." as auth_invalid on the apiKey', async () => {
      const err = await failure(
        { status: 403, body: { success: false, errorMsg: 'Access denied.' } },
        'auth_invalid',
      );
      expect(err.details.field).toBe('apiKey');
    });

    it('reads a wrong key as auth_invalid on the apiKey', async () => {
      const { connector } = open({}, { apiKey: 'wrong' });
      const err = await expectConnectorError(connector.verifyCredentials(), 'auth_invalid');
      expect([err.message, err.details.field]).toEqual([
        'RetailCRM credentials: Wrong "apiKey" value.',
        'apiKey',
      ]);
    });

    it('reads a validation error as rejected with the field errors', async () => {
      const err = await failure(
        {
          status: 400,
          body: {
            success: false,
            errorMsg: 'Errors in the entity format',
            errors: { phone: 'blank' },
          },
        },
        'rejected',
      );
      expect([err.message, err.details.status]).toEqual([
        'RetailCRM telephony/call/event: Errors in the entity format (phone: blank)',
        400,
      ]);
    });

    it('reads a 404 as not_found', async () => {
      await failure({ status: 404 }, 'not_found');
    });

    it('reads a 502 as temporary', async () => {
      await failure({ status: 502, body: 'Bad Gateway', contentType: 'text/html' }, 'temporary');
    });

    it('reads a refused connection as temporary', async () => {
      const { connector } = open();
      await sandbox.stop();
      await expectConnectorError(connector.showCall(pop(call(), TARGET)), 'temporary');
    });

    it('reads a 200 with success false as rejected', async () => {
      await failure(
        { status: 200, body: { success: false, errorMsg: 'Nothing done' } },
        'rejected',
      );
    });

    it('refuses a key without access to the configured store', async () => {
      await sandbox.stop();
      sandbox = new RetailcrmSandbox({ sites: ['other-shop'] });
      await sandbox.start();
      const { connector } = open({ site: 'main-shop' });
      const err = await expectConnectorError(connector.verifyCredentials(), 'auth_invalid');
      expect(err.message).toBe('The API key has no access to store "main-shop"');
    });
  });
});
