import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pickExpected } from '../../src/connector-sdk/testing/conformance';
import { Bitrix24Sandbox, bitrix24ConformanceFixture, decodePhpForm } from './bitrix24.sandbox';

const MINUTE = 60_000;
const ANNA = '+79161234567';
const UNKNOWN = '79990001122';

interface Answer {
  status: number;
  body: Record<string, unknown> & { result?: unknown };
}

/** Raw HTTP against the sandbox, to pin what it answers regardless of the connector. */
async function send(
  sandbox: Bitrix24Sandbox,
  path: string,
  o: { method?: string; form?: string; json?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (o.form !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = o.form;
  } else if (o.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(o.json);
  }
  const res = await fetch(`${sandbox.url}${path}`, {
    method: o.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** A REST call as the connector makes it: a POST form, the token in `auth`. */
function rest(sandbox: Bitrix24Sandbox, method: string, form: string, token: string) {
  const auth = `auth=${encodeURIComponent(token)}`;
  return send(sandbox, `/rest/${method}`, { form: form ? `${form}&${auth}` : auth });
}

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback server that records what it receives and answers with `reply`. */
async function localServer(
  reply: (req: Received) => { status: number; body?: string | Buffer; headers?: Json } = () => ({
    status: 200,
    body: 'ok',
  }),
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(got);
      const answer = reply(got);
      res.writeHead(answer.status, answer.headers as Record<string, string> | undefined);
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Json = Record<string, unknown>;
const pairs = (form: string) => [...new URLSearchParams(form)];

describe('Bitrix24Sandbox', () => {
  let sandbox: Bitrix24Sandbox;
  let token: string;

  beforeEach(async () => {
    sandbox = new Bitrix24Sandbox();
    sandbox.addUser({ id: 11, name: 'Ivan', lastName: 'Petrov', extension: '101' });
    sandbox.addUser({
      id: 24,
      name: 'Olga',
      lastName: 'Orlova',
      extension: '102',
      mobile: '+79990000102',
    });
    sandbox.addContact({
      id: 797,
      name: 'Anna Smirnova',
      phones: ['8 (916) 123-45-67'],
      assignedById: 11,
    });
    await sandbox.start();
    token = sandbox.issueTokens().access_token;
  });

  afterEach(() => sandbox.stop());

  describe('envelope, auth and errors', () => {
    it('answers app.info in the result/time envelope, by POST form, GET query, .json and any case', async () => {
      const posted = await rest(sandbox, 'app.info', '', token);
      const got = await send(sandbox, `/rest/APP.INFO.json?auth=${token}`);
      expect(posted.status).toBe(200);
      expect(posted.body.result).toEqual({
        ID: 17,
        CODE: sandbox.clientId,
        VERSION: 1,
        STATUS: 'L',
        INSTALLED: true,
        PAYMENT_EXPIRED: 'N',
        DAYS: null,
        LICENSE: 'ru_project',
        LANGUAGE_ID: 'ru',
      });
      expect(sandbox.clientId).toMatch(/^local\.[0-9a-f]{14}\.\d{8}$/);
      expect(Object.keys(posted.body.time as Json)).toEqual([
        'start',
        'finish',
        'duration',
        'processing',
        'date_start',
        'date_finish',
        'operating_reset_at',
        'operating',
      ]);
      expect((posted.body.time as Json).date_start).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/,
      );
      expect([got.status, got.body.result]).toEqual([200, posted.body.result]);
    });

    it('answers profile for the token user, a default admin for user 1', async () => {
      const admin = await rest(sandbox, 'profile', '', token);
      const ivan = await rest(sandbox, 'profile', '', sandbox.issueTokens(11).access_token);
      expect(admin.body.result).toEqual({ ID: '1', ADMIN: true, NAME: 'Admin', LAST_NAME: '' });
      expect(ivan.body.result).toEqual({
        ID: '11',
        ADMIN: false,
        NAME: 'Ivan',
        LAST_NAME: 'Petrov',
      });
    });

    it('refuses a missing, an unknown and an expired token with 401', async () => {
      const none = await send(sandbox, '/rest/app.info', { form: 'x=1' });
      const unknown = await rest(sandbox, 'app.info', '', 'not-a-token');
      // A token lives an hour; 10 s short of it is in time even on a slow machine.
      sandbox.advance(3590_000);
      const inTime = await rest(sandbox, 'app.info', '', token);
      sandbox.advance(20_000);
      const late = await rest(sandbox, 'app.info', '', token);
      expect([none.status, none.body.error]).toEqual([401, 'NO_AUTH_FOUND']);
      expect([unknown.status, unknown.body.error]).toEqual([401, 'invalid_token']);
      expect(inTime.status).toBe(200);
      expect([late.status, late.body]).toEqual([
        401,
        { error: 'expired_token', error_description: 'The access token provided has expired.' },
      ]);
    });

    it('expires every token issued so far on expireAccessTokens(), not later ones', async () => {
      sandbox.expireAccessTokens();
      const fresh = sandbox.issueTokens().access_token;
      expect((await rest(sandbox, 'app.info', '', token)).body.error).toBe('expired_token');
      expect((await rest(sandbox, 'app.info', '', fresh)).status).toBe(200);
    });

    it('answers an unknown method with 404 and reads a JSON body', async () => {
      const unknown = await rest(sandbox, 'crm.deal.fly', '', token);
      const json = await send(sandbox, '/rest/user.get', {
        json: { FILTER: { UF_PHONE_INNER: '102' }, auth: token },
      });
      expect([unknown.status, unknown.body]).toEqual([
        404,
        { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' },
      ]);
      expect((json.body.result as Json[]).map((u) => u.ID)).toEqual(['24']);
    });

    it('answers injected faults and outages as INTERNAL_SERVER_ERROR', async () => {
      sandbox.failNext(1, { status: 502 });
      const fault = await rest(sandbox, 'app.info', '', token);
      sandbox.setOutage(10_000, 500);
      const outage = await rest(sandbox, 'app.info', '', token);
      sandbox.clearFaults();
      expect([fault.status, fault.body]).toEqual([
        502,
        { error: 'INTERNAL_SERVER_ERROR', error_description: 'HTTP 502' },
      ]);
      expect([outage.status, outage.body.error_description]).toEqual([500, 'HTTP 500']);
      expect((await rest(sandbox, 'app.info', '', token)).status).toBe(200);
    });

    it('blocks one method with OPERATION_TIME_LIMIT and says when it ends', async () => {
      sandbox.operationLimit('user.get', 5 * MINUTE);
      const blocked = await rest(sandbox, 'user.get', '', token);
      const other = await rest(sandbox, 'app.info', '', token);
      sandbox.advance(5 * MINUTE);
      const after = await rest(sandbox, 'user.get', '', token);
      expect([blocked.status, blocked.body.error]).toEqual([429, 'OPERATION_TIME_LIMIT']);
      const resetAt = (blocked.body.time as Json).operating_reset_at as number;
      expect(Math.abs(resetAt - (Date.now() + 5 * MINUTE) / 1000)).toBeLessThan(5);
      expect([other.status, after.status]).toEqual([200, 200]);
    });
  });

  describe('rate limit', () => {
    it('admits a burst of 50, refuses the 51st with 503, then drains 2 a second', async () => {
      const burst = await Promise.all(
        Array.from({ length: 51 }, () => rest(sandbox, 'app.info', '', token)),
      );
      const refused = burst.filter((r) => r.status === 503);
      expect(refused.map((r) => r.body)).toEqual([
        { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
      ]);
      expect(sandbox.rateLimitRejections).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1050));
      const next: number[] = [];
      for (let i = 0; i < 3; i++) next.push((await rest(sandbox, 'app.info', '', token)).status);
      expect(next).toEqual([200, 200, 503]);
      expect(sandbox.restRequests()).toBe(54);
    });

    it('takes the bucket size and drain from the options, and leaves OAuth unlimited', async () => {
      const small = new Bitrix24Sandbox({ burst: 3, drainPerSecond: 5 });
      await small.start();
      try {
        const t = small.issueTokens().access_token;
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await rest(small, 'app.info', '', t)).status);
        const oauth = await send(small, '/oauth/token/?grant_type=refresh_token');
        expect(statuses).toEqual([200, 200, 200, 503]);
        expect(oauth.status).toBe(401);
      } finally {
        await small.stop();
      }
    });
  });

  describe('users', () => {
    it('filters users by PHP-style FILTER keys and pages them by 50', async () => {
      for (let id = 100; id < 158; id++)
        sandbox.addUser({ id, name: `U${id}`, active: id !== 157 });
      const byExtension = await rest(sandbox, 'user.get', 'FILTER[UF_PHONE_INNER]=101', token);
      const first = await rest(sandbox, 'user.get', 'FILTER[ACTIVE]=true', token);
      const second = await rest(sandbox, 'user.get', 'FILTER[ACTIVE]=true&start=50', token);
      const byIds = await rest(sandbox, 'user.get', 'FILTER[ID][0]=11&FILTER[ID][1]=24', token);
      expect(byExtension.body).toMatchObject({
        result: [
          {
            ID: '11',
            ACTIVE: true,
            NAME: 'Ivan',
            LAST_NAME: 'Petrov',
            EMAIL: '',
            UF_PHONE_INNER: '101',
            PERSONAL_MOBILE: '',
            WORK_PHONE: '',
          },
        ],
        total: 1,
      });
      expect(byExtension.body.next).toBeUndefined();
      expect([(first.body.result as Json[]).length, first.body.total, first.body.next]).toEqual([
        50, 59, 50,
      ]);
      expect([(second.body.result as Json[]).length, second.body.next]).toEqual([9, undefined]);
      expect((byIds.body.result as Json[]).map((u) => u.ID)).toEqual(['11', '24']);
    });

    it('refuses a user filter field it does not know', async () => {
      const reply = await rest(sandbox, 'user.get', 'FILTER[UF_PHONE_INNR]=101', token);
      expect([reply.status, reply.body.error]).toEqual([400, 'ERROR_CORE']);
    });
  });

  describe('batch', () => {
    it('runs commands in order with $result references, as one request', async () => {
      const cmd = {
        user: 'user.get?FILTER[UF_PHONE_INNER]=101',
        crm: `telephony.externalCall.searchCrmEntities?PHONE_NUMBER=${ANNA.slice(1)}`,
        lead:
          'crm.lead.add?FIELDS[TITLE]=From%20batch&FIELDS[ASSIGNED_BY_ID]=$result[user][0][ID]' +
          '&FIELDS[COMMENTS]=Owner%20$result[user][0][ID]%20of%20$result[crm][0][NAME]',
        nope: 'crm.deal.fly',
        inner: 'batch?cmd[a]=app.info',
      };
      const form = Object.entries(cmd)
        .map(([k, v]) => `cmd[${k}]=${encodeURIComponent(v)}`)
        .join('&');
      const reply = await rest(sandbox, 'batch', `halt=0&${form}`, token);
      const result = reply.body.result as Record<string, Json>;
      expect(reply.status).toBe(200);
      expect(Object.keys(result.result)).toEqual(['user', 'crm', 'lead']);
      expect((result.result.crm as Json[])[0]).toMatchObject({ CRM_ENTITY_ID: 797 });
      expect(sandbox.leads()).toEqual([
        expect.objectContaining({
          ID: result.result.lead,
          TITLE: 'From batch',
          ASSIGNED_BY_ID: 11,
          COMMENTS: 'Owner 11 of Anna Smirnova',
        }),
      ]);
      expect(result.result_error).toEqual({
        nope: { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' },
        inner: {
          error: 'ERROR_BATCH_METHOD_NOT_ALLOWED',
          error_description: 'Method is not allowed for batch usage',
        },
      });
      expect(result.result_total).toEqual({ user: 1 });
      expect(result.result_next).toEqual([]);
      expect(Object.keys(result.result_time)).toEqual(['user', 'crm', 'lead']);
      expect([sandbox.restRequests(), sandbox.requestsTo('batch').length]).toEqual([1, 1]);
    });

    it('stops at the first error with halt=1', async () => {
      const reply = await rest(
        sandbox,
        'batch',
        `halt=1&cmd[a]=app.info&cmd[b]=crm.lead.get%3Fid%3D999&cmd[c]=${encodeURIComponent('crm.lead.add?FIELDS[TITLE]=x')}`,
        token,
      );
      const result = reply.body.result as Record<string, Json>;
      expect(Object.keys(result.result)).toEqual(['a']);
      expect(result.result_error).toEqual({
        b: { error: 'NOT_FOUND', error_description: 'Not found' },
      });
      expect(sandbox.leads()).toEqual([]);
    });

    it('refuses more than 50 commands', async () => {
      const form = Array.from({ length: 51 }, (_, i) => `cmd[c${i}]=app.info`).join('&');
      const over = await rest(sandbox, 'batch', form, token);
      const fifty = await rest(sandbox, 'batch', form.replace(/&cmd\[c50\]=app\.info$/, ''), token);
      expect([over.status, over.body.error]).toEqual([400, 'ERROR_BATCH_LENGTH_EXCEEDED']);
      expect(fifty.status).toBe(200);
      expect(Object.keys((fifty.body.result as Record<string, Json>).result)).toHaveLength(50);
    });
  });

  describe('lines and CRM search', () => {
    it('adds, lists, updates and deletes external lines', async () => {
      const added = await rest(
        sandbox,
        'telephony.externalLine.add',
        'NUMBER=74951234567&NAME=Hub',
        token,
      );
      const again = await rest(sandbox, 'telephony.externalLine.add', 'NUMBER=74951234567', token);
      const empty = await rest(sandbox, 'telephony.externalLine.add', 'NAME=x', token);
      await rest(
        sandbox,
        'telephony.externalLine.update',
        'NUMBER=74951234567&CRM_AUTO_CREATE=N',
        token,
      );
      const listed = await rest(sandbox, 'telephony.externalline.get', '', token);
      const deleted = await rest(
        sandbox,
        'telephony.externalLine.delete',
        'NUMBER=74951234567',
        token,
      );
      expect(added.body.result).toEqual({ ID: 1 });
      expect([again.status, again.body.error_description]).toEqual([400, 'Line already exists']);
      expect([empty.status, empty.body.error_description]).toEqual([
        400,
        'NUMBER should not be empty',
      ]);
      expect(listed.body.result).toEqual([
        { NUMBER: '74951234567', NAME: 'Hub', CRM_AUTO_CREATE: 'N' },
      ]);
      expect([deleted.body.result, sandbox.lines()]).toEqual([[], []]);
    });

    it('finds entities by the last ten digits, contacts before companies before leads', async () => {
      sandbox.addContact({
        id: 5,
        type: 'COMPANY',
        name: 'Acme',
        phones: ['+7 916 123 45 67'],
        assignedById: 24,
      });
      sandbox.addContact({
        id: 3,
        type: 'LEAD',
        name: 'Old lead',
        phones: ['79161234567'],
        assignedById: 24,
      });
      sandbox.addContact({ id: 800, name: 'Other', phones: ['+79161234568'], assignedById: 24 });
      sandbox.setTimeman(11, 'PAUSED');
      const found = await rest(
        sandbox,
        'telephony.externalCall.searchCrmEntities',
        'PHONE_NUMBER=89161234567',
        token,
      );
      const none = await rest(
        sandbox,
        'telephony.externalCall.searchCrmEntities',
        `PHONE_NUMBER=${UNKNOWN}`,
        token,
      );
      const missing = await rest(sandbox, 'telephony.externalCall.searchCrmEntities', '', token);
      expect(found.body.result).toEqual([
        {
          CRM_ENTITY_TYPE: 'CONTACT',
          CRM_ENTITY_ID: 797,
          ASSIGNED_BY_ID: 11,
          NAME: 'Anna Smirnova',
          ASSIGNED_BY: {
            ID: '11',
            TIMEMAN_STATUS: 'PAUSED',
            USER_PHONE_INNER: '101',
            WORK_PHONE: null,
            PERSONAL_PHONE: null,
            PERSONAL_MOBILE: null,
          },
        },
        expect.objectContaining({
          CRM_ENTITY_TYPE: 'COMPANY',
          CRM_ENTITY_ID: 5,
          ASSIGNED_BY_ID: 24,
        }),
        expect.objectContaining({ CRM_ENTITY_TYPE: 'LEAD', CRM_ENTITY_ID: 3, NAME: 'Old lead' }),
      ]);
      expect((found.body.result as Json[])[1].ASSIGNED_BY).toMatchObject({
        PERSONAL_MOBILE: '+79990000102',
      });
      expect(none.body.result).toEqual([]);
      expect(missing.status).toBe(400);
    });

    it('adds, gets and lists leads by ORIGIN_ID with select', async () => {
      const added = await rest(
        sandbox,
        'crm.lead.add',
        'FIELDS[TITLE]=Missed&FIELDS[SOURCE_ID]=CALL&FIELDS[ORIGINATOR_ID]=hub&FIELDS[ORIGIN_ID]=c-1' +
          '&FIELDS[PHONE][0][VALUE]=%2B79990001122&FIELDS[PHONE][0][VALUE_TYPE]=WORK&FIELDS[ASSIGNED_BY_ID]=24',
        token,
      );
      const id = added.body.result as number;
      const got = await rest(sandbox, 'crm.lead.get', `id=${id}`, token);
      const listed = await rest(
        sandbox,
        'crm.lead.list',
        'filter[ORIGIN_ID]=c-1&filter[ORIGINATOR_ID]=hub&select[0]=ID&select[1]=TITLE',
        token,
      );
      const other = await rest(sandbox, 'crm.lead.list', 'filter[ORIGIN_ID]=c-2', token);
      expect(typeof id).toBe('number');
      expect(got.body.result).toMatchObject({
        ID: String(id),
        TITLE: 'Missed',
        SOURCE_ID: 'CALL',
        ASSIGNED_BY_ID: '24',
        PHONE: [{ VALUE: '+79990001122', VALUE_TYPE: 'WORK', TYPE_ID: 'PHONE' }],
      });
      expect(listed.body).toMatchObject({
        result: [{ ID: String(id), TITLE: 'Missed' }],
        total: 1,
      });
      expect(Object.keys((listed.body.result as Json[])[0])).toEqual(['ID', 'TITLE']);
      expect(other.body.result).toEqual([]);
    });
  });

  describe('calls', () => {
    const register = (extra = '', t = token) =>
      rest(
        sandbox,
        'telephony.externalCall.register',
        `USER_PHONE_INNER=101&PHONE_NUMBER=79161234567&TYPE=2&LINE_NUMBER=74951234567&EXTERNAL_CALL_ID=pbx-1${extra}`,
        t,
      );
    const callIdOf = (a: Answer) => (a.body.result as Json).CALL_ID as string;
    const finish = (callId: string, extra = '') =>
      rest(sandbox, 'telephony.externalCall.finish', `CALL_ID=${callId}&USER_ID=11${extra}`, token);

    it('registers a call bound to the contact found and shows its card to the user', async () => {
      const reply = await register();
      expect(reply.body.result).toEqual({
        CALL_ID: expect.stringMatching(/^externalCall\.[0-9a-f]{32}\.\d{10}$/),
        CRM_CREATED_LEAD: null,
        CRM_CREATED_ENTITIES: [],
        CRM_ENTITY_TYPE: 'CONTACT',
        CRM_ENTITY_ID: 797,
      });
      const [call] = sandbox.calls();
      expect(call).toMatchObject({
        CALL_ID: callIdOf(reply),
        origin: 'register',
        userId: 11,
        type: 2,
        params: { USER_PHONE_INNER: '101', EXTERNAL_CALL_ID: 'pbx-1', TYPE: '2' },
      });
      expect(call.params.auth).toBeUndefined();
      expect(sandbox.cards(callIdOf(reply))).toEqual({
        shown: [11],
        hidden: [],
        visible: [11],
        showRequests: 0,
        hideRequests: 0,
      });
    });

    it('gives the same CALL_ID to a repeat within 30 minutes, a new one otherwise', async () => {
      const first = callIdOf(await register());
      const repeat = callIdOf(
        await register('&CRM_CREATE=1&CALL_START_DATE=2025-03-04T10:15:00%2B03:00'),
      );
      const otherPbxId = callIdOf(await register('&EXTERNAL_CALL_ID=pbx-2'));
      sandbox.advance(31 * MINUTE);
      const late = callIdOf(await register());
      await finish(late);
      const afterFinish = callIdOf(await register());
      expect(repeat).toBe(first);
      expect(new Set([first, otherPbxId, late, afterFinish]).size).toBe(4);
      expect(sandbox.calls()).toHaveLength(4);
      expect(sandbox.leads()).toEqual([]);
    });

    it('creates exactly one lead for an unknown caller with CRM_CREATE=1', async () => {
      const form = `USER_ID=24&PHONE_NUMBER=${UNKNOWN}&TYPE=2&CRM_CREATE=1&EXTERNAL_CALL_ID=u-1`;
      const first = await rest(sandbox, 'telephony.externalCall.register', form, token);
      const repeat = await rest(sandbox, 'telephony.externalCall.register', form, token);
      const [lead] = sandbox.leads();
      expect(sandbox.leads()).toHaveLength(1);
      expect(lead).toMatchObject({
        SOURCE_ID: 'CALL',
        ASSIGNED_BY_ID: 24,
        PHONE: [{ VALUE: UNKNOWN, VALUE_TYPE: 'WORK' }],
      });
      expect(lead.TITLE).toContain(UNKNOWN);
      expect(first.body.result).toMatchObject({
        CRM_CREATED_LEAD: lead.ID,
        CRM_CREATED_ENTITIES: [{ ENTITY_TYPE: 'LEAD', ENTITY_ID: lead.ID }],
        CRM_ENTITY_TYPE: 'LEAD',
        CRM_ENTITY_ID: lead.ID,
      });
      expect(repeat.body.result).toMatchObject({
        CALL_ID: (first.body.result as Json).CALL_ID,
        CRM_CREATED_LEAD: null,
        CRM_CREATED_ENTITIES: [],
      });
    });

    it('refuses a register without a known user, a phone or a valid TYPE', async () => {
      const noUser = await rest(
        sandbox,
        'telephony.externalCall.register',
        'PHONE_NUMBER=79161234567&TYPE=2',
        token,
      );
      const unknownInner = await rest(
        sandbox,
        'telephony.externalCall.register',
        'USER_PHONE_INNER=999&PHONE_NUMBER=79161234567&TYPE=2',
        token,
      );
      const badType = await rest(
        sandbox,
        'telephony.externalCall.register',
        'USER_ID=11&PHONE_NUMBER=79161234567&TYPE=7',
        token,
      );
      const noPhone = await rest(
        sandbox,
        'telephony.externalCall.register',
        'USER_ID=11&TYPE=2',
        token,
      );
      expect([noUser.status, noUser.body.error_description]).toEqual([
        400,
        'USER_ID or USER_PHONE_INNER should be set',
      ]);
      expect(unknownInner.body.error_description).toBe('USER_ID or USER_PHONE_INNER should be set');
      expect([badType.status, noPhone.status]).toEqual([400, 400]);
      expect(sandbox.calls()).toEqual([]);
    });

    it('shows and hides cards to users sent as PHP arrays, false for an unknown call', async () => {
      const callId = callIdOf(await register('&SHOW=0'));
      const shown = await rest(
        sandbox,
        'telephony.externalCall.show',
        `CALL_ID=${callId}&USER_ID[0]=11&USER_ID[1]=24`,
        token,
      );
      const hidden = await rest(
        sandbox,
        'telephony.externalCall.hide',
        `CALL_ID=${callId}&USER_ID[0]=24`,
        token,
      );
      const unknown = await rest(
        sandbox,
        'telephony.externalCall.show',
        'CALL_ID=externalCall.nope.1&USER_ID=11',
        token,
      );
      expect([shown.body.result, hidden.body.result, unknown.body.result]).toEqual([
        true,
        true,
        false,
      ]);
      expect(sandbox.cards(callId)).toEqual({
        shown: [11, 24],
        hidden: [24],
        visible: [11],
        showRequests: 1,
        hideRequests: 1,
      });
    });

    it('finishes into the statistics table with the default STATUS_CODE and a call activity', async () => {
      const missed = callIdOf(await register());
      const answered = callIdOf(await register('&EXTERNAL_CALL_ID=pbx-2'));
      const m = await finish(missed);
      const a = await finish(answered, '&DURATION=95&COST=1.5&COST_CURRENCY=RUB&VOTE=5');
      const again = await finish(missed);
      expect(m.body.result).toEqual({
        ID: 1,
        CALL_ID: missed,
        EXTERNAL_CALL_ID: 'pbx-1',
        PORTAL_USER_ID: 11,
        PHONE_NUMBER: '79161234567',
        PORTAL_NUMBER: '74951234567',
        INCOMING: 2,
        CALL_DURATION: 0,
        CALL_START_DATE: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        CALL_STATUS: 0,
        CALL_VOTE: null,
        COST: 0,
        COST_CURRENCY: '',
        CALL_FAILED_CODE: '304',
        CALL_FAILED_REASON: '',
        REST_APP_ID: 17,
        REST_APP_NAME: 'Telephony hub',
        CRM_ACTIVITY_ID: 1,
        COMMENT: null,
        CRM_ENTITY_TYPE: 'CONTACT',
        CRM_ENTITY_ID: 797,
      });
      expect(a.body.result).toMatchObject({
        CALL_FAILED_CODE: '200',
        CALL_STATUS: 1,
        CALL_DURATION: 95,
        COST: 1.5,
        CALL_VOTE: 5,
      });
      expect([again.status, again.body]).toEqual([
        400,
        {
          error: 'ERROR_CORE',
          error_description: 'Call is not found (call should be registered prior to finishing)',
        },
      ]);
      expect(sandbox.activities().map((x) => [x.OWNER_TYPE, x.OWNER_ID, x.DIRECTION])).toEqual([
        ['CONTACT', 797, 'incoming'],
        ['CONTACT', 797, 'incoming'],
      ]);
      const stats = await rest(
        sandbox,
        'voximplant.statistic.get',
        'FILTER[EXTERNAL_CALL_ID]=pbx-2',
        token,
      );
      expect((stats.body.result as Json[]).map((s) => s.CALL_ID)).toEqual([answered]);
      expect(stats.body.total).toBe(1);
    });

    it('makes the finishing user responsible for the lead register created', async () => {
      const reply = await rest(
        sandbox,
        'telephony.externalCall.register',
        `USER_ID=11&PHONE_NUMBER=${UNKNOWN}&TYPE=2&CRM_CREATE=1`,
        token,
      );
      await rest(
        sandbox,
        'telephony.externalCall.finish',
        `CALL_ID=${callIdOf(reply)}&USER_PHONE_INNER=102&DURATION=10`,
        token,
      );
      expect(sandbox.leads()[0].ASSIGNED_BY_ID).toBe(24);
    });

    it('attaches a record by RECORD_URL and by FILE_CONTENT, the second replacing the first', async () => {
      const files = await localServer((req) =>
        req.url === '/rec/1.mp3'
          ? { status: 200, body: Buffer.from('ID3-mp3-bytes') }
          : req.url === '/moved.mp3'
            ? { status: 302, headers: { location: '/rec/1.mp3' } }
            : { status: 404, body: 'no' },
      );
      try {
        const callId = callIdOf(await register());
        const attach = (form: string) =>
          rest(sandbox, 'telephony.externalCall.attachRecord', `CALL_ID=${callId}&${form}`, token);
        const early = await attach(`RECORD_URL=${files.url}/rec/1.mp3`);
        await finish(callId, '&DURATION=30');
        const byUrl = await attach(`RECORD_URL=${encodeURIComponent(`${files.url}/rec/1.mp3`)}`);
        const stored = sandbox.records(callId);
        const missing = await attach(`RECORD_URL=${files.url}/rec/2.mp3`);
        const moved = await attach(`RECORD_URL=${files.url}/moved.mp3`);
        const wrongExt = await attach(
          `FILENAME=call.ogg&FILE_CONTENT=${Buffer.from('x').toString('base64')}`,
        );
        const byContent = await attach(
          `FILENAME=call.wav&FILE_CONTENT=${encodeURIComponent(Buffer.from('RIFF-wav').toString('base64'))}`,
        );
        expect([early.status, early.body.error_description]).toEqual([
          400,
          'Call is not found in the statistic table',
        ]);
        expect(byUrl.body.result).toEqual({ FILE_ID: stored?.fileId });
        expect(stored).toMatchObject({ fileName: '1.mp3', url: `${files.url}/rec/1.mp3` });
        expect(stored?.bytes.toString()).toBe('ID3-mp3-bytes');
        expect(missing.body.error_description).toBe('Server returns HTTP error code 404');
        expect(moved.body.error_description).toBe('Server returns HTTP error code 302');
        expect(wrongExt.body.error_description).toBe('Wrong file extension');
        expect(byContent.status).toBe(200);
        expect(sandbox.records(callId)).toMatchObject({ fileName: 'call.wav' });
        expect(sandbox.records(callId)?.bytes.toString()).toBe('RIFF-wav');
        expect(sandbox.attachRequests).toBe(6);
        expect(files.received.map((r) => r.url)).toEqual([
          '/rec/1.mp3',
          '/rec/2.mp3',
          '/moved.mp3',
        ]);
      } finally {
        await files.close();
      }
    });
  });

  describe('OAuth server', () => {
    const refresh = (refreshToken: string, secret = sandbox.clientSecret) =>
      send(
        sandbox,
        `/oauth/token/?${new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: sandbox.clientId,
          client_secret: secret,
          refresh_token: refreshToken,
        })}`,
      );

    it('rotates the refresh token; the spent one is refused', async () => {
      const pair = sandbox.issueTokens();
      const rotated = await refresh(pair.refresh_token);
      const replay = await refresh(pair.refresh_token);
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({
        access_token: expect.any(String),
        expires_in: 3600,
        expires: expect.any(Number),
        scope: 'crm,telephony,user',
        domain: sandbox.domain,
        server_endpoint: `${sandbox.url}/rest/`,
        status: 'L',
        client_endpoint: `${sandbox.url}/rest/`,
        member_id: sandbox.memberId,
        user_id: 1,
        refresh_token: expect.any(String),
      });
      expect(sandbox.domain).toBe(new URL(sandbox.url).host);
      expect(rotated.body.refresh_token).not.toBe(pair.refresh_token);
      expect(Math.abs((rotated.body.expires as number) - Date.now() / 1000 - 3600)).toBeLessThan(5);
      expect([replay.status, replay.body]).toEqual([
        400,
        { error: 'invalid_grant', error_description: 'Invalid refresh token' },
      ]);
      const next = rotated.body.access_token as string;
      expect((await rest(sandbox, 'app.info', '', next)).status).toBe(200);
      // A POSTed form works too.
      const posted = await send(sandbox, '/oauth/token/', {
        form: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: sandbox.clientId,
          client_secret: sandbox.clientSecret,
          refresh_token: rotated.body.refresh_token as string,
        }).toString(),
      });
      expect(posted.status).toBe(200);
      expect(sandbox.refreshCount).toBe(3);
    });

    it('refuses a wrong client with invalid_client and a lapsed subscription with 402', async () => {
      const pair = sandbox.issueTokens();
      const wrong = await refresh(pair.refresh_token, 'wrong');
      sandbox.paymentRequired(true);
      const unpaid = await refresh(pair.refresh_token);
      sandbox.paymentRequired(false);
      const paid = await refresh(pair.refresh_token);
      expect([wrong.status, wrong.body]).toEqual([401, { error: 'invalid_client' }]);
      expect([unpaid.status, unpaid.body]).toEqual([
        402,
        { error: 'PAYMENT_REQUIRED', error_description: 'Payment required' },
      ]);
      expect(paid.status).toBe(200);
    });
  });

  describe('webhooks', () => {
    it('refuses app-only methods to a webhook with WRONG_AUTH_TYPE and serves the others', async () => {
      const secret = sandbox.addWebhook(11);
      const hook = (method: string, form = '') =>
        send(sandbox, `/rest/11/${secret}/${method}`, { form });
      const register = await hook(
        'telephony.externalcall.register.json',
        'USER_ID=11&PHONE_NUMBER=79161234567&TYPE=2',
      );
      const bind = await hook('event.bind', 'event=OnExternalCallStart&handler=http://127.0.0.1/h');
      const line = await hook('telephony.externalLine.get');
      const search = await hook(
        'telephony.externalCall.searchCrmEntities',
        'PHONE_NUMBER=79161234567',
      );
      const wrongSecret = await send(sandbox, '/rest/11/nope/user.get');
      const otherUser = await send(sandbox, `/rest/24/${secret}/user.get`);
      for (const refused of [register, bind, line]) {
        expect([refused.status, refused.body]).toEqual([
          401,
          {
            error: 'WRONG_AUTH_TYPE',
            error_description: 'Current authorization type is denied for this method',
          },
        ]);
      }
      expect([search.status, (search.body.result as Json[]).length]).toEqual([200, 1]);
      expect([wrongSecret.status, otherUser.status]).toEqual([401, 401]);
      expect(sandbox.calls()).toEqual([]);
    });
  });

  describe('events', () => {
    it('binds handlers once per event and handler, lists and unbinds them', async () => {
      const bind = (handler: string) =>
        rest(
          sandbox,
          'event.bind',
          `event=OnExternalCallStart&handler=${encodeURIComponent(handler)}`,
          token,
        );
      const first = await bind('http://127.0.0.1:9/a');
      const twice = await bind('http://127.0.0.1:9/a');
      await bind('http://127.0.0.1:9/b');
      const unknownEvent = await rest(
        sandbox,
        'event.bind',
        'event=OnNothing&handler=http://x/',
        token,
      );
      const listed = await rest(sandbox, 'event.get', '', token);
      const unbound = await rest(
        sandbox,
        'event.unbind',
        'event=ONEXTERNALCALLSTART&handler=http://127.0.0.1:9/a',
        token,
      );
      expect(first.body.result).toBe(true);
      expect([twice.status, twice.body.error_description]).toEqual([400, 'Handler already binded']);
      expect(unknownEvent.status).toBe(400);
      expect(listed.body.result).toEqual([
        {
          event: 'ONEXTERNALCALLSTART',
          handler: 'http://127.0.0.1:9/a',
          auth_type: '0',
          offline: 0,
        },
        {
          event: 'ONEXTERNALCALLSTART',
          handler: 'http://127.0.0.1:9/b',
          auth_type: '0',
          offline: 0,
        },
      ]);
      expect(unbound.body.result).toEqual({ count: 1 });
      expect(sandbox.bindings().map((b) => b.handler)).toEqual(['http://127.0.0.1:9/b']);
    });

    it('posts ONAPPINSTALL to the install handler with a fresh token pair, exactly', async () => {
      const handler = await localServer();
      try {
        const installed = await sandbox.install(`${handler.url}/install`);
        const forged = await sandbox.install(`${handler.url}/install`, {
          applicationToken: 'other',
          memberId: 'm-2',
          clientEndpoint: 'http://evil.example/rest/',
          accessToken: 'forged',
        });
        const [got, second] = handler.received;
        const t = installed.tokens;
        expect([installed.status, installed.body]).toEqual([200, 'ok']);
        expect([got.method, got.url, got.headers['content-type']]).toEqual([
          'POST',
          '/install',
          'application/x-www-form-urlencoded',
        ]);
        expect(pairs(got.body)).toEqual([
          ['event', 'ONAPPINSTALL'],
          ['data[VERSION]', '1'],
          ['data[ACTIVE]', 'Y'],
          ['data[INSTALLED]', 'Y'],
          ['data[LANGUAGE_ID]', 'ru'],
          ['ts', expect.stringMatching(/^\d{10}$/)],
          ['auth[access_token]', t.access_token],
          ['auth[expires]', String(t.expires)],
          ['auth[expires_in]', '3600'],
          ['auth[scope]', 'crm,telephony,user'],
          ['auth[domain]', sandbox.domain],
          ['auth[server_endpoint]', `${sandbox.url}/rest/`],
          ['auth[status]', 'L'],
          ['auth[client_endpoint]', `${sandbox.url}/rest/`],
          ['auth[member_id]', sandbox.memberId],
          ['auth[user_id]', '1'],
          ['auth[refresh_token]', t.refresh_token],
          ['auth[application_token]', sandbox.applicationToken],
        ]);
        expect(sandbox.memberId).toMatch(/^[0-9a-f]{32}$/);
        expect(sandbox.applicationToken).toMatch(/^[0-9a-f]{32}$/);
        expect((await rest(sandbox, 'app.info', '', t.access_token)).status).toBe(200);
        expect(decodePhpForm(second.body).auth).toMatchObject({
          access_token: 'forged',
          application_token: 'other',
          member_id: 'm-2',
          client_endpoint: 'http://evil.example/rest/',
          refresh_token: forged.tokens.refresh_token,
        });
        // An override changes what is sent, not what the sandbox issued.
        expect(forged.tokens.access_token).not.toBe('forged');
      } finally {
        await handler.close();
      }
    });

    it('registers a clicked call and posts ONEXTERNALCALLSTART to each online handler once', async () => {
      const handler = await localServer((req) => ({ status: req.url === '/down' ? 500 : 200 }));
      try {
        for (const path of ['/events', '/down']) {
          await rest(
            sandbox,
            'event.bind',
            `event=OnExternalCallStart&handler=${handler.url}${path}`,
            token,
          );
        }
        const clicked = await sandbox.clickToCall({
          userId: 11,
          phone: '8 (916) 123-45-67',
          lineNumber: '74951234567',
        });
        const [got] = handler.received;
        expect(clicked.deliveries).toEqual([
          { handler: `${handler.url}/events`, status: 200, body: '' },
          { handler: `${handler.url}/down`, status: 500, body: '' },
        ]);
        expect(handler.received).toHaveLength(2);
        const form = pairs(got.body);
        const accessToken = form.find(([k]) => k === 'auth[access_token]')?.[1] ?? '';
        expect(form).toEqual([
          ['event', 'ONEXTERNALCALLSTART'],
          ['data[PHONE_NUMBER]', '8 (916) 123-45-67'],
          ['data[PHONE_NUMBER_INTERNATIONAL]', '+79161234567'],
          ['data[EXTENSION]', '101'],
          ['data[USER_ID]', '11'],
          ['data[CALL_LIST_ID]', '0'],
          ['data[LINE_NUMBER]', '74951234567'],
          ['data[IS_MOBILE]', '0'],
          ['data[CALL_ID]', clicked.callId],
          ['data[CRM_ENTITY_TYPE]', 'CONTACT'],
          ['data[CRM_ENTITY_ID]', '797'],
          ['ts', expect.stringMatching(/^\d{10}$/)],
          ['event_handler_id', '1'],
          ['auth[access_token]', expect.any(String)],
          ['auth[expires_in]', '3600'],
          ['auth[scope]', 'crm,telephony,user'],
          ['auth[domain]', sandbox.domain],
          ['auth[server_endpoint]', `${sandbox.url}/rest/`],
          ['auth[status]', 'L'],
          ['auth[client_endpoint]', `${sandbox.url}/rest/`],
          ['auth[member_id]', sandbox.memberId],
          ['auth[application_token]', sandbox.applicationToken],
        ]);
        expect(sandbox.calls()).toEqual([
          expect.objectContaining({
            CALL_ID: clicked.callId,
            origin: 'clickToCall',
            type: 1,
            userId: 11,
          }),
        ]);
        expect(sandbox.cards(clicked.callId).shown).toEqual([11]);
        // The clicked call is registered: finishing it works, and the event's token is valid.
        const finished = await rest(
          sandbox,
          'telephony.externalCall.finish',
          `CALL_ID=${clicked.callId}&USER_ID=11&DURATION=12`,
          accessToken,
        );
        expect(finished.body.result).toMatchObject({
          INCOMING: 1,
          CALL_FAILED_CODE: '200',
          CRM_ENTITY_ID: 797,
        });
      } finally {
        await handler.close();
      }
    });
  });

  describe('conformance fixture', () => {
    it('matches the lookup request the connector makes, wherever the token travels', async () => {
      const fixture = await bitrix24ConformanceFixture();
      try {
        const { sandbox: s, tokens } = fixture;
        const [expected] = fixture.expectedLookupRequests!(fixture.knownPhone);
        await fetch(
          `${s.url}/rest/telephony.externalCall.searchCrmEntities?auth=${tokens!.accessToken}`,
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: 'PHONE_NUMBER=79161234567',
          },
        );
        const inBody = await rest(
          s,
          'telephony.externalCall.searchCrmEntities',
          'PHONE_NUMBER=79161234567',
          tokens!.accessToken,
        );
        const [query, body] = fixture.requests();
        expect(pickExpected(query, expected)).toEqual(expected);
        expect(pickExpected(body, expected)).toEqual(expected);
        expect((inBody.body.result as Json[])[0]).toMatchObject({
          CRM_ENTITY_ID: 797,
          ASSIGNED_BY_ID: 11,
        });
        expect(tokens?.extra).toEqual({
          clientEndpoint: `${s.url}/rest/`,
          memberId: s.memberId,
          applicationToken: s.applicationToken,
          domain: s.domain,
        });
        expect(Date.parse(tokens!.expiresAt!) - Date.now()).toBeGreaterThan(3590_000);
        expect(fixture.credentials).toEqual({ clientId: s.clientId, clientSecret: s.clientSecret });
        expect((fixture.badCredentials as { clientId: string }).clientId).not.toBe(s.clientId);
      } finally {
        await fixture.close();
      }
    });
  });
});
