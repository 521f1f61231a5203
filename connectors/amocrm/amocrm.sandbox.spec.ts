import { AmocrmSandbox } from './amocrm.sandbox';

const REDIRECT = 'https://hub.example.com/v1/crm/amocrm/oauth';
const MINUTE = 60_000;

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
  body: Record<string, unknown>;
}

/** Raw HTTP against the sandbox, to pin what it answers regardless of the connector. */
async function send(
  sandbox: AmocrmSandbox,
  path: string,
  options: { method?: string; token?: string | null; json?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(`${sandbox.url}${path}`, {
    method: options.method ?? (body ? 'POST' : 'GET'),
    headers,
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    text,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function tokenRequest(sandbox: AmocrmSandbox, params: Record<string, unknown>): Promise<Answer> {
  return send(sandbox, '/oauth2/access_token', {
    json: { client_id: sandbox.clientId, client_secret: sandbox.clientSecret, ...params },
  });
}

function exchange(sandbox: AmocrmSandbox, code: string, redirectUri = REDIRECT): Promise<Answer> {
  return tokenRequest(sandbox, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
  });
}

function refresh(sandbox: AmocrmSandbox, refreshToken: unknown): Promise<Answer> {
  return tokenRequest(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    redirect_uri: REDIRECT,
  });
}

/** A fresh OAuth pair, as the hub has it once connected. */
async function connect(sandbox: AmocrmSandbox): Promise<{ access: string; refresh: string }> {
  const { body } = await exchange(sandbox, sandbox.consent(REDIRECT).code);
  return { access: body.access_token as string, refresh: body.refresh_token as string };
}

const phoneCall = (overrides: Record<string, unknown> = {}) => ({
  direction: 'inbound',
  uniq: 'c-1',
  duration: 95,
  source: 'Telephony hub',
  phone: '+79161234567',
  ...overrides,
});

const sipItem = (uniq: string, overrides: Record<string, unknown> = {}) => ({
  source_uid: 'hub-line-1',
  source_name: 'Telephony hub',
  metadata: {
    uniq,
    from: '+74990001122',
    phone: '101',
    called_at: 1764583200,
    duration: 0,
    service_code: 'telephony_hub',
  },
  ...overrides,
});

describe('AmocrmSandbox', () => {
  let sandbox: AmocrmSandbox;
  let token: string;

  beforeEach(async () => {
    sandbox = new AmocrmSandbox();
    sandbox.addUser({ id: 5001, name: 'Ivan Petrov', email: 'ivan@example.com' });
    sandbox.addUser({ id: 5002, name: 'Olga Orlova' });
    await sandbox.start();
    token = sandbox.issueLongLivedToken();
  });

  afterEach(() => sandbox.stop());

  describe('OAuth', () => {
    it('exchanges a consent code once and refuses its second use', async () => {
      const { code, referer } = sandbox.consent(REDIRECT);
      const first = await exchange(sandbox, code);
      const second = await exchange(sandbox, code);
      expect(referer).toBe('example.amocrm.ru');
      expect(first.status).toBe(200);
      expect(first.body).toEqual({
        token_type: 'Bearer',
        expires_in: 86400,
        access_token: expect.any(String),
        refresh_token: expect.any(String),
        server_time: expect.any(Number),
      });
      expect(Math.abs((first.body.server_time as number) - Date.now() / 1000)).toBeLessThan(5);
      expect([second.status, second.contentType, second.body]).toEqual([
        400,
        'application/problem+json',
        expect.objectContaining({
          title: 'Bad Request',
          type: 'https://httpstatus.es/400',
          status: 400,
          hint: 'Authorization code has been revoked',
        }),
      ]);
      const me = await send(sandbox, '/api/v4/account', {
        token: first.body.access_token as string,
      });
      expect(me.status).toBe(200);
      expect(sandbox.grants).toEqual({ authorization_code: 2, refresh_token: 0 });
    });

    it('refuses a code older than 20 minutes, or for another redirect_uri', async () => {
      const { code } = sandbox.consent(REDIRECT);
      sandbox.clockOffsetMs = 20 * MINUTE + 1000;
      const late = await exchange(sandbox, code);
      sandbox.clockOffsetMs = 0;
      const other = sandbox.consent(REDIRECT).code;
      const elsewhere = await exchange(sandbox, other, 'https://evil.example.com/cb');
      sandbox.clockOffsetMs = 19 * MINUTE;
      const inTime = await exchange(sandbox, other);
      expect([late.status, late.body.hint]).toEqual([400, 'Authorization code has expired']);
      expect([elsewhere.status, elsewhere.contentType]).toEqual([400, 'application/problem+json']);
      expect(inTime.status).toBe(200);
    });

    it('refuses a wrong client secret with 401', async () => {
      const reply = await tokenRequest(sandbox, {
        client_secret: 'not-the-secret',
        grant_type: 'authorization_code',
        code: sandbox.consent(REDIRECT).code,
        redirect_uri: REDIRECT,
      });
      expect([reply.status, reply.contentType, reply.body.hint]).toEqual([
        401,
        'application/problem+json',
        'Client authentication failed',
      ]);
      expect(sandbox.clientSecret.length).toBeGreaterThanOrEqual(32);
      expect(new AmocrmSandbox().clientSecret).not.toBe(sandbox.clientSecret);
    });

    it('rotates the refresh token; a spent one is refused and revokes the whole grant', async () => {
      const pair = await connect(sandbox);
      const rotated = await refresh(sandbox, pair.refresh);
      expect(rotated.status).toBe(200);
      const next = {
        access: rotated.body.access_token as string,
        refresh: rotated.body.refresh_token as string,
      };
      expect(next.refresh).not.toBe(pair.refresh);
      expect((await send(sandbox, '/api/v4/account', { token: next.access })).status).toBe(200);

      const replay = await refresh(sandbox, pair.refresh);
      expect([replay.status, replay.contentType, replay.body.hint]).toEqual([
        401,
        'application/problem+json',
        'Token has been revoked',
      ]);
      expect(sandbox.reusedRefreshTokens).toBe(1);
      // The grant is gone: its newest access and refresh tokens no longer work.
      expect((await send(sandbox, '/api/v4/account', { token: next.access })).status).toBe(401);
      expect((await refresh(sandbox, next.refresh)).status).toBe(401);
      expect(sandbox.reusedRefreshTokens).toBe(1);
      expect(sandbox.grants).toEqual({ authorization_code: 1, refresh_token: 3 });
      // Another connection's grant is untouched.
      const other = await connect(sandbox);
      expect((await send(sandbox, '/api/v4/account', { token: other.access })).status).toBe(200);
    });

    it('lets two overlapping refreshes with one token collide, as amoCRM does', async () => {
      const pair = await connect(sandbox);
      sandbox.tokenLatencyMs = 50;
      const replies = await Promise.all([
        refresh(sandbox, pair.refresh),
        refresh(sandbox, pair.refresh),
      ]);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 401]);
      expect(sandbox.reusedRefreshTokens).toBe(1);
    });

    it('refuses an access token once its lifetime has passed on the sandbox clock', async () => {
      sandbox.accessTokenTtlS = 3600;
      const pair = await connect(sandbox);
      sandbox.clockOffsetMs = 3599_000;
      const before = await send(sandbox, '/api/v4/account', { token: pair.access });
      sandbox.clockOffsetMs = 3601_000;
      const after = await send(sandbox, '/api/v4/account', { token: pair.access });
      expect(sandbox.expiresIn).toBe(3600);
      expect(before.status).toBe(200);
      expect([after.status, after.contentType, after.body]).toEqual([
        401,
        'application/problem+json',
        {
          title: 'Unauthorized',
          type: 'https://httpstatus.es/401',
          status: 401,
          detail: 'Access token has expired',
        },
      ]);
      expect((await refresh(sandbox, pair.refresh)).body.expires_in).toBe(3600);
    });

    it('accepts a long-lived token without refresh until the integration is removed', async () => {
      const pair = await connect(sandbox);
      sandbox.clockOffsetMs = 400 * 86_400_000;
      expect((await send(sandbox, '/api/v4/account', { token })).status).toBe(200);
      sandbox.clockOffsetMs = 0;
      sandbox.revokeAll();
      const statuses = [
        (await send(sandbox, '/api/v4/account', { token })).status,
        (await send(sandbox, '/api/v4/account', { token: pair.access })).status,
        (await refresh(sandbox, pair.refresh)).status,
        (await send(sandbox, '/api/v4/account', { token: null })).status,
      ];
      expect(statuses).toEqual([401, 401, 401, 401]);
      expect(sandbox.reusedRefreshTokens).toBe(0);
      // A new install works again.
      expect(
        (await send(sandbox, '/api/v4/account', { token: (await connect(sandbox)).access })).status,
      ).toBe(200);
    });
  });

  describe('account, limits and errors', () => {
    it('answers the account', async () => {
      const reply = await send(sandbox, '/api/v4/account', { token });
      expect([reply.status, reply.body]).toEqual([
        200,
        { id: 30001234, name: 'Example', subdomain: 'example', country: 'RU', currency: 'RUB' },
      ]);
    });

    it('answers 402 for an unpaid account and 403 for a blocked one', async () => {
      sandbox.accountState = 'unpaid';
      const unpaid = await send(sandbox, '/api/v4/users', { token });
      sandbox.accountState = 'blocked';
      const blocked = await send(sandbox, '/api/v4/calls', { token, json: [phoneCall()] });
      sandbox.accountState = 'active';
      const active = await send(sandbox, '/api/v4/users', { token });
      expect([unpaid.status, unpaid.contentType, unpaid.body.title]).toEqual([
        402,
        'application/problem+json',
        'Payment Required',
      ]);
      expect([blocked.status, blocked.body.title, blocked.body.detail]).toEqual([
        403,
        'Forbidden',
        'Account is blocked',
      ]);
      expect(active.status).toBe(200);
      expect(sandbox.calls).toEqual([]);
    });

    it('admits 7 API requests in a second and refuses the 8th with 429', async () => {
      const seven = await Promise.all(
        Array.from({ length: 7 }, () => send(sandbox, '/api/v4/account', { token })),
      );
      expect(seven.map((r) => r.status)).toEqual(Array(7).fill(200));
      expect(sandbox.rateLimitRejections).toBe(0);
      // Neither the token endpoint nor a refused token counts against the account.
      await exchange(sandbox, 'no-such-code');
      await send(sandbox, '/api/v4/account', { token: 'not-a-token' });
      const eighth = await send(sandbox, '/api/v4/account', { token });
      expect([eighth.status, eighth.contentType, eighth.body.title]).toEqual([
        429,
        'application/problem+json',
        'Too Many Requests',
      ]);
      expect(sandbox.rateLimitRejections).toBe(1);
      expect(sandbox.maxPerSecondObserved('default')).toBe(8);
    });

    it('answers injected faults and unknown routes in problem+json', async () => {
      sandbox.failNext(1, { status: 503 });
      const fault = await send(sandbox, '/api/v4/account', { token });
      const unknown = await send(sandbox, '/api/v4/companies', { token });
      const wrongVerb = await send(sandbox, '/api/v4/calls', { token });
      expect([fault.status, fault.contentType, fault.body]).toEqual([
        503,
        'application/problem+json',
        {
          title: 'Service Unavailable',
          type: 'https://httpstatus.es/503',
          status: 503,
          detail: 'HTTP 503',
        },
      ]);
      expect([unknown.status, unknown.contentType, unknown.body.title]).toEqual([
        404,
        'application/problem+json',
        'Not Found',
      ]);
      expect(wrongVerb.status).toBe(404);
    });

    it('pages users and answers 204 past the last page', async () => {
      const first = await send(sandbox, '/api/v4/users?page=1&limit=1', { token });
      const past = await send(sandbox, '/api/v4/users?page=3&limit=1', { token });
      const tooMany = await send(sandbox, '/api/v4/users?limit=251', { token });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        _total_items: 2,
        _page: 1,
        _links: { self: { href: expect.stringContaining('/api/v4/users?') } },
        _embedded: {
          users: [
            {
              id: 5001,
              name: 'Ivan Petrov',
              email: 'ivan@example.com',
              lang: 'ru',
              rights: { is_admin: false, is_free: false, is_active: true },
            },
          ],
        },
      });
      expect([past.status, past.text]).toEqual([204, '']);
      expect(tooMany.status).toBe(400);
    });
  });

  describe('contacts', () => {
    beforeEach(() => {
      sandbox.addContact({
        id: 7001,
        name: 'Anna Smirnova',
        phones: ['8 (916) 123-45-67'],
        responsibleUserId: 5001,
        leadIds: [801],
      });
      sandbox.addContact({
        name: 'Boris Ivanov',
        phones: ['+7 916 123-45-67'],
        responsibleUserId: 5002,
      });
    });

    it('finds phones by the digits as stored: "+7…" misses "8 (…)", ten digits find both', async () => {
      const plus = await send(
        sandbox,
        `/api/v4/contacts?query=${encodeURIComponent('+79161234567')}`,
        { token },
      );
      const ten = await send(sandbox, '/api/v4/contacts?query=9161234567&with=leads', { token });
      const contacts = (a: Answer) =>
        (a.body._embedded as { contacts: { id: number; name: string }[] }).contacts;
      expect(contacts(plus).map((c) => c.name)).toEqual(['Boris Ivanov']);
      expect(contacts(ten).map((c) => c.name)).toEqual(['Anna Smirnova', 'Boris Ivanov']);
      expect(contacts(ten)[0]).toEqual({
        id: 7001,
        name: 'Anna Smirnova',
        first_name: '',
        last_name: '',
        responsible_user_id: 5001,
        group_id: 0,
        created_by: 0,
        updated_by: 0,
        created_at: expect.any(Number),
        updated_at: expect.any(Number),
        is_deleted: false,
        account_id: 30001234,
        custom_fields_values: [
          {
            field_id: 264911,
            field_name: 'Телефон',
            field_code: 'PHONE',
            field_type: 'multitext',
            values: [{ value: '8 (916) 123-45-67', enum_id: 508999, enum_code: 'WORK' }],
          },
        ],
        _links: { self: { href: expect.stringContaining('/api/v4/contacts/7001') } },
        _embedded: { leads: [{ id: 801 }], tags: [] },
      });
      // Leads are embedded only when asked for.
      expect(contacts(plus)[0]).toMatchObject({ _embedded: { tags: [] } });
      expect(contacts(plus)[0]).not.toHaveProperty('_embedded.leads');
    });

    it('answers 204 with an empty body when nothing matches, and searches names for short queries', async () => {
      const none = await send(sandbox, '/api/v4/contacts?query=74990001122', { token });
      const byName = await send(sandbox, '/api/v4/contacts?query=bor', { token });
      expect([none.status, none.text]).toEqual([204, '']);
      expect(
        (byName.body._embedded as { contacts: { name: string }[] }).contacts.map((c) => c.name),
      ).toEqual(['Boris Ivanov']);
    });

    it('creates contacts with their phones and answers their ids by request_id', async () => {
      const reply = await send(sandbox, '/api/v4/contacts', {
        token,
        json: [
          {
            first_name: 'Unknown',
            last_name: 'Caller',
            responsible_user_id: 5002,
            custom_fields_values: [
              { field_code: 'PHONE', values: [{ value: '+74990001122', enum_code: 'WORK' }] },
            ],
          },
        ],
      });
      const created = (reply.body._embedded as { contacts: { id: number; request_id: string }[] })
        .contacts[0];
      expect(created).toMatchObject({ id: 9000002, request_id: '0' });
      expect(sandbox.contacts.get(created.id)).toMatchObject({
        name: 'Unknown Caller',
        phones: ['+74990001122'],
        responsibleUserId: 5002,
      });
      const bad = await send(sandbox, '/api/v4/contacts', {
        token,
        json: [{ name: 'X', custom_fields_values: [{ field_id: 1, values: [{ value: 'a' }] }] }],
      });
      expect(bad.body['validation-errors']).toEqual([
        {
          request_id: '0',
          errors: [
            {
              code: 'NotSupportedChoice',
              path: 'custom_fields_values.0.field_id',
              detail: expect.any(String),
            },
          ],
        },
      ]);
    });
  });

  describe('screen pop events', () => {
    it('records one popup per item for existing users', async () => {
      const reply = await send(sandbox, '/api/v2/events', {
        token,
        json: { add: [{ type: 'phone_call', phone_number: '+79161234567', users: [5001, 5002] }] },
      });
      expect([reply.status, reply.body]).toEqual([
        200,
        {
          _embedded: {
            items: [{ type: 'phone_call', phone_number: '+79161234567', users: [5001, 5002] }],
          },
        },
      ]);
      expect(sandbox.popups).toEqual([
        { phone: '+79161234567', users: [5001, 5002], at: expect.any(Number) },
      ]);
    });

    it('refuses an unknown type, an empty number or unknown users, recording nothing', async () => {
      const reply = await send(sandbox, '/api/v2/events', {
        token,
        json: {
          add: [
            { type: 'phone_call', phone_number: '+79161234567', users: [5001] },
            { type: 'call', phone_number: '', users: [9999] },
          ],
        },
      });
      expect([reply.status, reply.contentType]).toEqual([400, 'application/problem+json']);
      expect(reply.body['validation-errors']).toEqual([
        {
          request_id: '1',
          errors: [
            expect.objectContaining({ path: 'add.1.type' }),
            expect.objectContaining({ path: 'add.1.phone_number' }),
            expect.objectContaining({ path: 'add.1.users' }),
          ],
        },
      ]);
      expect(sandbox.popups).toEqual([]);
    });
  });

  describe('calls', () => {
    beforeEach(() => {
      sandbox.addContact({
        id: 7001,
        name: 'One lead',
        phones: ['8 (916) 123-45-67'],
        responsibleUserId: 5001,
        leadIds: [801],
      });
      sandbox.addContact({
        id: 7002,
        name: 'Two leads',
        phones: ['+7 (495) 765-43-21'],
        responsibleUserId: 5001,
        leadIds: [802, 803],
      });
    });

    it('puts a call on the single lead of the contact, else on the contact', async () => {
      const reply = await send(sandbox, '/api/v4/calls', {
        token,
        json: [
          phoneCall({ uniq: 'c-1', request_id: 'r-1' }),
          phoneCall({ uniq: 'c-2', phone: '74957654321', direction: 'outbound' }),
        ],
      });
      expect([reply.status, reply.body]).toEqual([
        200,
        {
          _total_items: 2,
          _embedded: {
            calls: [
              {
                id: expect.any(Number),
                entity_id: 801,
                entity_type: 'lead',
                account_id: 30001234,
                request_id: 'r-1',
                _embedded: { entity: { id: 801 } },
              },
              {
                id: expect.any(Number),
                entity_id: 7002,
                entity_type: 'contact',
                account_id: 30001234,
                request_id: '1',
                _embedded: { entity: { id: 7002 } },
              },
            ],
          },
        },
      ]);
      expect(sandbox.callsWithUniq('c-1')).toEqual([
        {
          ...phoneCall({ uniq: 'c-1', request_id: 'r-1' }),
          id: expect.any(Number),
          entity_id: 801,
          entity_type: 'lead',
        },
      ]);
    });

    it('refuses the whole batch with NotFound when a number has no card', async () => {
      const reply = await send(sandbox, '/api/v4/calls', {
        token,
        json: [phoneCall({ uniq: 'c-1' }), phoneCall({ uniq: 'c-2', phone: '+74990001122' })],
      });
      expect([reply.status, reply.contentType, reply.body['validation-errors']]).toEqual([
        400,
        'application/problem+json',
        [
          {
            request_id: '1',
            errors: [{ code: 'NotFound', path: 'phone', detail: 'Entity not found' }],
          },
        ],
      ]);
      expect(sandbox.calls).toEqual([]);
    });

    it('stores a call sent twice twice: amoCRM does not deduplicate', async () => {
      await send(sandbox, '/api/v4/calls', { token, json: [phoneCall({ uniq: 'c-9' })] });
      await send(sandbox, '/api/v4/calls', { token, json: [phoneCall({ uniq: 'c-9' })] });
      expect(sandbox.callsWithUniq('c-9')).toHaveLength(2);
    });

    it('validates every field of a call item', async () => {
      const reply = await send(sandbox, '/api/v4/calls', {
        token,
        json: [
          {
            direction: 'incoming',
            duration: -1,
            source: '',
            link: 'ftp://x',
            call_status: 8,
            responsible_user_id: 9999,
            uniq: 'u'.repeat(256),
          },
        ],
      });
      const errors = (reply.body['validation-errors'] as { errors: { path: string }[] }[])[0]
        .errors;
      expect(reply.status).toBe(400);
      expect(errors.map((e) => e.path)).toEqual([
        'direction',
        'duration',
        'source',
        'phone',
        'uniq',
        'link',
        'call_status',
        'responsible_user_id',
      ]);
      const empty = await send(sandbox, '/api/v4/calls', { token, json: [] });
      const tooMany = await send(sandbox, '/api/v4/calls', {
        token,
        json: Array.from({ length: 51 }, (_, i) => phoneCall({ uniq: `c-${i}` })),
      });
      expect([empty.status, tooMany.status]).toEqual([400, 400]);
      expect(sandbox.calls).toEqual([]);
    });
  });

  describe('incoming leads', () => {
    it('creates a lead and a contact for the caller, and lists them newest first', async () => {
      const first = await send(sandbox, '/api/v4/leads/unsorted/sip', {
        token,
        json: [sipItem('u-1', { request_id: 'req-1', created_at: 1764583200 })],
      });
      expect(first.status).toBe(200);
      const added = (
        first.body._embedded as {
          unsorted: {
            uid: string;
            _embedded: { leads: { id: number }[]; contacts: { id: number }[] };
          }[];
        }
      ).unsorted[0];
      expect(first.body._total_items).toBe(1);
      expect(added).toMatchObject({ account_id: 30001234, request_id: 'req-1' });
      expect(added.uid).toMatch(/^[0-9a-f]{32}$/);
      const leadId = added._embedded.leads[0].id;
      const contactId = added._embedded.contacts[0].id;
      expect(sandbox.leads.map((l) => [l.id, l.contact_id])).toEqual([[leadId, contactId]]);
      expect(sandbox.contacts.get(contactId)).toMatchObject({
        phones: ['+74990001122'],
        leadIds: [leadId],
      });
      await send(sandbox, '/api/v4/leads/unsorted/sip', {
        token,
        json: [sipItem('u-2', { created_at: 1764586800 })],
      });
      // The second call from that number joins the contact the first one created.
      expect(sandbox.contacts.size).toBe(1);

      const listed = await send(
        sandbox,
        `/api/v4/leads/unsorted?${encodeURIComponent('filter[category][]')}=sip&${encodeURIComponent('order[created_at]')}=desc&limit=250`,
        { token },
      );
      const unsorted = (listed.body._embedded as { unsorted: Record<string, unknown>[] }).unsorted;
      expect(unsorted.map((u) => (u.metadata as { uniq: string }).uniq)).toEqual(['u-2', 'u-1']);
      expect(unsorted[1]).toEqual({
        uid: added.uid,
        source_uid: 'hub-line-1',
        source_name: 'Telephony hub',
        category: 'sip',
        pipeline_id: 3166396,
        created_at: 1764583200,
        account_id: 30001234,
        metadata: sipItem('u-1').metadata,
        _embedded: { leads: [{ id: leadId }], contacts: [{ id: contactId }] },
      });
      const forms = await send(sandbox, '/api/v4/leads/unsorted?filter[category]=forms', { token });
      expect([forms.status, forms.text]).toEqual([204, '']);
    });

    it('refuses a second incoming lead with the same uniq', async () => {
      await send(sandbox, '/api/v4/leads/unsorted/sip', { token, json: [sipItem('u-1')] });
      const again = await send(sandbox, '/api/v4/leads/unsorted/sip', {
        token,
        json: [sipItem('u-2'), sipItem('u-1')],
      });
      expect([again.status, again.contentType, again.body['validation-errors']]).toEqual([
        400,
        'application/problem+json',
        [
          {
            request_id: '1',
            errors: [
              {
                code: 'Duplicate',
                path: 'metadata.uniq',
                detail: "there can't be 2 identical entities in Incoming leads",
              },
            ],
          },
        ],
      ]);
      expect(sandbox.unsorted.map((u) => u.metadata.uniq)).toEqual(['u-1']);
      expect(sandbox.leads).toHaveLength(1);
    });

    it('validates the required fields and the pipeline', async () => {
      const reply = await send(sandbox, '/api/v4/leads/unsorted/sip', {
        token,
        json: [{ source_uid: 'x', pipeline_id: 1, metadata: { uniq: 'u-1', from: '+7' } }],
      });
      const paths = (
        reply.body['validation-errors'] as { errors: { path: string }[] }[]
      )[0].errors.map((e) => e.path);
      expect(paths).toEqual([
        'source_name',
        'pipeline_id',
        'metadata.phone',
        'metadata.called_at',
        'metadata.duration',
        'metadata.service_code',
      ]);
      expect(sandbox.unsorted).toEqual([]);
    });
  });

  describe('leads', () => {
    it('creates a complex lead with a new contact and finds it by its name', async () => {
      sandbox.addPipeline({ id: 4001, name: 'Calls', statuses: [40011, 40012] });
      const reply = await send(sandbox, '/api/v4/leads/complex', {
        token,
        json: [
          {
            name: 'Missed call [#m-1]',
            responsible_user_id: 5002,
            pipeline_id: 4001,
            status_id: 40012,
            _embedded: {
              contacts: [
                {
                  first_name: 'Unknown caller',
                  custom_fields_values: [
                    { field_code: 'PHONE', values: [{ value: '+74990001122', enum_code: 'WORK' }] },
                  ],
                },
              ],
              tags: [{ name: 'missed' }],
            },
          },
        ],
      });
      expect(reply.status).toBe(200);
      const [created] = reply.body as unknown as { id: number; contact_id: number }[];
      expect(reply.body).toEqual([
        {
          id: created.id,
          contact_id: created.contact_id,
          company_id: null,
          request_id: ['0'],
          merged: false,
        },
      ]);
      expect(sandbox.leads[0]).toMatchObject({
        id: created.id,
        name: 'Missed call [#m-1]',
        responsible_user_id: 5002,
        pipeline_id: 4001,
        status_id: 40012,
        contact_id: created.contact_id,
        tags: [{ name: 'missed' }],
      });
      expect(sandbox.contacts.get(created.contact_id)).toMatchObject({
        name: 'Unknown caller',
        phones: ['+74990001122'],
        responsibleUserId: 5002,
        leadIds: [created.id],
      });

      const found = await send(sandbox, '/api/v4/leads?query=%5B%23m-1%5D&with=contacts', {
        token,
      });
      expect(found.body._embedded).toEqual({
        leads: [
          expect.objectContaining({
            id: created.id,
            name: 'Missed call [#m-1]',
            responsible_user_id: 5002,
            pipeline_id: 4001,
            status_id: 40012,
            created_at: expect.any(Number),
            _embedded: { contacts: [{ id: created.contact_id }], tags: [{ name: 'missed' }] },
          }),
        ],
      });
      const none = await send(sandbox, '/api/v4/leads?query=%5B%23m-2%5D', { token });
      expect([none.status, none.text]).toEqual([204, '']);
    });

    it('links a complex lead to an existing contact by id', async () => {
      sandbox.addContact({
        id: 7001,
        name: 'Anna',
        phones: ['+79161234567'],
        responsibleUserId: 5001,
      });
      const reply = await send(sandbox, '/api/v4/leads/complex', {
        token,
        json: [{ name: 'Lead', _embedded: { contacts: [{ id: 7001 }] } }],
      });
      const [created] = reply.body as unknown as { id: number; contact_id: number }[];
      expect(created.contact_id).toBe(7001);
      expect(sandbox.contacts.get(7001)?.leadIds).toEqual([created.id]);
      expect(sandbox.contacts.size).toBe(1);
      expect(sandbox.leads[0]).toMatchObject({ pipeline_id: 3166396, status_id: 31666001 });
    });

    it('refuses an unknown pipeline, a status of another pipeline and a blank name by field', async () => {
      const reply = await send(sandbox, '/api/v4/leads/complex', {
        token,
        json: [
          { name: 'A', pipeline_id: 999 },
          { name: '', status_id: 40011, responsible_user_id: 9999 },
        ],
      });
      expect([reply.status, reply.contentType]).toEqual([400, 'application/problem+json']);
      expect(
        (
          reply.body['validation-errors'] as { request_id: string; errors: { path: string }[] }[]
        ).map((g) => [g.request_id, g.errors.map((e) => e.path)]),
      ).toEqual([
        ['0', ['pipeline_id']],
        ['1', ['name', 'responsible_user_id', 'status_id']],
      ]);
      expect(sandbox.leads).toEqual([]);
    });
  });
});
