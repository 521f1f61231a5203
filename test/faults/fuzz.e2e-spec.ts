import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { signHubPayload } from '../../src/tenants/hub-signature';
import { RawRequest, rawHttp } from '../support/raw-http';
import {
  CreatedTenant,
  createTenant,
  postEvents,
  startTestApp,
  TestApp,
} from '../support/test-app';
import { ADMIN_TOKEN } from '../support/test-env';

/**
 * 10,000 malformed or hostile requests across every public endpoint of one in-process hub.
 * For each: no 5xx and an answer at all; after each chunk the process is alive; at the end
 * nothing was stored and Object.prototype is untouched.
 *
 * Nothing may be valid by accident, so validity is excluded by construction: a request either
 * lacks valid credentials (then its body may be anything, even a perfect event), or carries
 * valid credentials and a body that cannot pass validation (malformed JSON, a wrong top-level
 * shape, an unknown top-level field, which every DTO forbids, or an event batch holding an
 * event whose caller is not a phone number). Requests that would act without a body
 * (rotate-secrets, DELETE of a fixture's id, the queue dashboard's API) never get valid
 * credentials.
 */

const ZADARMA_SECRET = 'zd-api-secret-0123456789abcdef';
const CONCURRENCY = 16;
/** Fixed, so a failure replays; FUZZ_SEED explores others. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
console.log(`fuzz seed ${SEED} (FUZZ_SEED overrides)`);

interface Fixture {
  tenant: CreatedTenant;
  integrationId: string;
  zadarmaSourceId: string;
  genericSourceId: string;
  callId: string;
}

interface FuzzCase extends RawRequest {
  /** Which generator made it, for the report. */
  kind: string;
}

interface Finding {
  kind: string;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
  status: number | null;
  error?: string;
  head: string;
}

// ---------- building blocks ----------

const HOSTILE_WORDS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\u202e',
  '\ufeff',
  'NaN',
  'Infinity',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '${jndi:ldap://127.0.0.1/x}',
  "'; DROP TABLE tenants; --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
  '%ZZ',
  '0x1F',
  '1e309',
  '-0',
  '+79161234567',
  '8 (495) 123-45-67',
  '2026-11-25T10:00:00Z',
  '2026-02-30T25:61:61+99:99',
  'call.ended',
  'NOTIFY_START',
  'inbound',
  'retailcrm',
  'Bearer ',
  'sha256=',
  '😀',
  'Ω≈ç√∫',
  '\r\n',
  '\\',
  '"',
];

const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'id',
  'callId',
  'type',
  'direction',
  'from',
  'to',
  'extension',
  'at',
  'result',
  'duration',
  'recordingUrl',
  'recorded',
  'events',
  'name',
  'defaultCountry',
  'timezone',
  'routingBudgetMs',
  'recordingWaitS',
  'connector',
  'config',
  'credentials',
  'settings',
  'crmUsers',
  'url',
  'apiKey',
  'key',
  'secret',
  'originateUrl',
  'host',
  'format',
  '',
  '$where',
];

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_WORDS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  // Huge strings, rarely: up to 200 KB, within the 2 MB body limit.
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 200000 }).map((n) => 'A'.repeat(n)) },
);

const key: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KEYS) },
  { weight: 1, arbitrary: hostileString },
);

/** JSON text of a scalar, including numbers JSON.stringify would never write. */
const scalarText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '0', '-0', '1e400', '-1e400', '1.5', '-1'),
  fc.constantFrom('123456789012345678901234567890', '9007199254740993', '1e-400'),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  hostileString.map((s) => JSON.stringify(s)),
);

/** JSON text of any shape, keys hostile and possibly repeated. */
const { json: jsonText } = fc.letrec<{ json: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarText,
    fc.array(tie('json'), { maxLength: 5 }).map((a) => `[${a.join(',')}]`),
    fc
      .array(fc.tuple(key, tie('json')), { maxLength: 6 })
      .map((ps) => `{${ps.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
}));

/** An object's JSON text (members possibly hostile), without the closing brace's content cut. */
const objectMembers: fc.Arbitrary<string[]> = fc.array(
  fc.tuple(key, jsonText).map(([k, v]) => `${JSON.stringify(k)}:${v}`),
  { maxLength: 6 },
);

const deepJson: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 50, max: 20000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? '['.repeat(depth) + ']'.repeat(depth)
      : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
  );

/** Text that is not JSON at all, or not quite. */
const malformedJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '}',
    '{"a":}',
    '{"a":1,}',
    "{'a':1}",
    'NaN',
    '{"a":NaN}',
    '\ufeff{"id":"x"}',
    '{"a":1}{"b":2}',
    '{"a":"\\ud800"}',
    '{"a":"\\x41"}',
    '/* c */ {}',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '[1,2',
    'undefined',
  ),
  jsonText.map((j) => j.slice(0, Math.max(0, j.length - 1))).filter((j) => !isJson(j)),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
);

/** Percent-encodes UTF-8 bytes; unlike encodeURIComponent it takes lone surrogates too. */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A path segment: plausible, random, or hostile, always written as a valid request-target. */
const segment: fc.Arbitrary<string> = fc.oneof(
  hostileString.map((s) => pct(s.slice(0, 300))),
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ZZ', '%', 'a%2Fb', '~', '*', ';x=1'),
  fc.integer({ min: 2049, max: 6000 }).map((n) => 'x'.repeat(n)),
  fc.uuid(),
);

/** A query string (with its "?"), hostile keys included. */
const queryString: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.oneof(
          key,
          fc.constantFrom(
            '__proto__[polluted]',
            'constructor[prototype][polluted]',
            'a[]',
            'a[0][b]',
            'limit',
            'cursor',
            'since',
            'until',
            'result',
            'format',
            'clientId',
            'zd_echo',
          ),
        ),
        hostileString,
      ),
      { maxLength: 5 },
    )
    .map((ps) => `?${ps.map(([k, v]) => `${pct(k)}=${pct(v.slice(0, 2000))}`).join('&')}`),
  fc.constantFrom('?', '?&&', '?a', '?%', '?a=%ZZ', '?limit=1e400', '?limit=-1', '?format=text'),
);

const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      null,
      'text/plain',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'application/xml',
      'application/json, text/plain',
      '*/*',
      'application/vnd.api+json',
    ),
  },
  { weight: 1, arbitrary: hostileString.map((s) => headerSafe(s)) },
);

/** Header values that a raw socket can still carry (no CR/LF); other bytes stay hostile. */
function headerSafe(s: string): string {
  return s.replace(/[\r\n]/g, ' ').slice(0, 4000);
}

/** Header lines that carry no valid credential, some of them malformed for HTTP itself. */
const junkHeaders: fc.Arbitrary<[string, string][]> = fc.array(
  fc.oneof(
    fc.tuple(
      fc.constantFrom(
        'x-api-key',
        'authorization',
        'x-hub-timestamp',
        'x-hub-signature',
        'signature',
        'x-forwarded-for',
        'x-forwarded-proto',
        'accept',
        'accept-encoding',
        'origin',
        'cookie',
        'user-agent',
        'x-request-id',
      ),
      hostileString.map(headerSafe),
    ),
    fc.tuple(
      fc.constantFrom('authorization'),
      fc.constantFrom(
        'Bearer',
        'Bearer  ',
        `Bearer ${ADMIN_TOKEN}x`,
        `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        `bearer${ADMIN_TOKEN}`,
        `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}x`).toString('base64')}`,
        'Basic !!!',
        'Digest x',
      ),
    ),
    fc.tuple(
      fc.constantFrom('x-hub-timestamp'),
      fc.constantFrom('-1', '0', '1e10', '99999999999999999999', 'NaN', ' 1', String(Date.now())),
    ),
    fc.tuple(
      fc.constantFrom('x-hub-signature'),
      fc.oneof(
        fc.constantFrom('sha256=', 'sha256', 'sha1=00', `sha256=${'0'.repeat(64)}`),
        fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
      ),
    ),
    fc.tuple(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).map(headerSafe),
      hostileString.map(headerSafe),
    ),
  ),
  { maxLength: 5 },
);

// ---------- requests ----------

const UUIDISH = fc.uuid();

function tenantIdArb(fx: Fixture): fc.Arbitrary<string> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant(fx.tenant.id) }, UUIDISH, segment);
}

/** A body for an endpoint called with valid credentials: invalid by construction. */
function invalidBody(fx: Fixture): fc.Arbitrary<string> {
  return fc.oneof(
    malformedJson,
    deepJson,
    // An object with an unknown top-level field: forbidden by every DTO of the hub.
    fc
      .tuple(objectMembers, fc.nat(), jsonText)
      .map(([ms, n, v]) => `{${[...ms, `"fuzzUnknownField${n}":${v}`].join(',')}}`),
    // A top-level array whose first element is not an agent / not an object.
    fc
      .tuple(scalarText, fc.array(jsonText, { maxLength: 3 }))
      .map(([first, rest]) => `[${[first, ...rest].join(',')}]`),
    // A top-level array whose first element carries an unknown field (agents are validated each).
    fc
      .tuple(objectMembers, fc.array(jsonText, { maxLength: 3 }))
      .map(
        ([ms, rest]) =>
          `[${[`{${[...ms, '"fuzzUnknownField":1'].join(',')}}`, ...rest].join(',')}]`,
      ),
    // Looks like the real thing, with one field of the wrong type and an unknown field.
    fc
      .tuple(fc.constantFrom(...KEYS), scalarText)
      .map(
        ([k, v]) =>
          `{"name":"x","connector":"retailcrm","config":{"url":"http://127.0.0.1:1"},"credentials":{"apiKey":"k"},"type":"generic","extension":"101","to":"+74951234567","callId":"c","from":"+79161234567",${JSON.stringify(k)}:${v},"fuzzUnknownField":true}`,
      ),
    fc.constant(`{"crmUsers":{"${fx.integrationId}":"27"},"extension":"101","x":1}`),
  );
}

/** A valid-looking event whose outside number is hostile (reaches phone normalization). */
const eventWithHostileNumbers: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    n: fc.nat(),
    type: fc.constantFrom('call.started', 'call.ringing', 'call.answered'),
    direction: fc.constantFrom('inbound', 'outbound', 'internal'),
    from: hostileString.map((s) => s.slice(0, 64)).filter((s) => s.length > 0),
    to: hostileString.map((s) => s.slice(0, 64)).filter((s) => s.length > 0),
  })
  .map(({ n, type, direction, from, to }) => ({
    id: `fz-${n}`,
    callId: `fz-call-${n}`,
    type,
    direction,
    from,
    to,
    extension: '101',
    at: '2026-11-25T10:00:00Z',
  }));

/** A perfectly valid event: only ever sent without valid credentials. */
const validEvent: fc.Arbitrary<Record<string, unknown>> = fc.nat().map((n) => ({
  id: `nope-${n}`,
  callId: `nope-call-${n}`,
  type: 'call.started',
  direction: 'inbound',
  from: '+79161234567',
  at: '2026-11-25T10:00:00Z',
}));

/** Events for /events with valid credentials: can never pass (validation or normalization). */
function invalidEventsBody(fx: Fixture): fc.Arbitrary<string> {
  return fc.oneof(
    invalidBody(fx),
    // A batch with hostile numbers in one event and a caller that is no phone number in another:
    // normalization runs over all events, then the whole batch is refused.
    fc.array(eventWithHostileNumbers, { minLength: 1, maxLength: 4 }).map((evs) =>
      JSON.stringify({
        events: [
          ...evs,
          {
            id: 'fz-poison',
            callId: 'fz-poison',
            type: 'call.started',
            direction: 'inbound',
            from: 'not a phone',
            at: '2026-11-25T10:00:00Z',
          },
        ],
      }),
    ),
    // A valid event with one more member, then an id with a space, which can never be valid.
    // The id comes last: JSON.parse keeps the last of repeated keys, so nothing can override it.
    fc
      .tuple(validEvent, fc.constantFrom(...KEYS), scalarText)
      .map(
        ([ev, k, v]) =>
          `{${JSON.stringify(ev).slice(1, -1)},${JSON.stringify(k)}:${v},"id":"has space"}`,
      ),
    fc
      .array(validEvent, { minLength: 501, maxLength: 520 })
      .map((evs) => JSON.stringify({ events: evs })),
  );
}

type Auth = 'admin' | 'apiKey' | 'signature';

function withAuth(fx: Fixture, auth: Auth, body: string, ct: string | null): [string, string][] {
  const headers: [string, string][] = ct === null ? [] : [['content-type', ct]];
  if (auth === 'admin') headers.push(['authorization', `Bearer ${ADMIN_TOKEN}`]);
  else if (auth === 'apiKey') headers.push(['x-api-key', fx.tenant.apiKey]);
  else {
    const ts = Math.floor(Date.now() / 1000);
    headers.push(['x-hub-timestamp', String(ts)]);
    headers.push([
      'x-hub-signature',
      signHubPayload(fx.tenant.webhookSecret, ts, Buffer.from(body, 'utf8')),
    ]);
  }
  return headers;
}

/** Credentials that do not work: wrong secret, stale, another key, none at all. */
function badAuth(fx: Fixture, body: string): fc.Arbitrary<[string, string][]> {
  const ts = Math.floor(Date.now() / 1000);
  return fc.oneof(
    fc.constant<[string, string][]>([]),
    junkHeaders,
    fc.constant<[string, string][]>([
      ['x-hub-timestamp', String(ts - 1000)],
      ['x-hub-signature', signHubPayload(fx.tenant.webhookSecret, ts - 1000, body)],
    ]),
    fc.constant<[string, string][]>([
      ['x-hub-timestamp', String(ts)],
      ['x-hub-signature', signHubPayload('whsec_not-the-secret', ts, body)],
    ]),
    fc.constant<[string, string][]>([
      ['x-hub-timestamp', String(ts)],
      ['x-hub-signature', signHubPayload(fx.tenant.webhookSecret, ts, `${body} `)],
    ]),
    fc.constant<[string, string][]>([['x-api-key', `${fx.tenant.apiKey}x`]]),
    fc.constant<[string, string][]>([['x-api-key', fx.tenant.webhookSecret]]),
  );
}

function jsonCase(
  kind: string,
  method: string,
  path: string,
  body: string,
  headers: [string, string][],
): FuzzCase {
  return { kind, method, path, headers, body: Buffer.from(body, 'utf8') };
}

/** /v1/pbx/:tenantId/events and /route, signed, keyed or not. */
function pbxCases(fx: Fixture): fc.Arbitrary<FuzzCase> {
  const endpoint = fc.constantFrom('events', 'route');
  const valid = fc
    .tuple(
      endpoint,
      fc.constantFrom<Auth>('admin', 'apiKey', 'signature'),
      contentType,
      queryString,
    )
    .chain(([ep, auth, ct, q]) =>
      (ep === 'events' ? invalidEventsBody(fx) : invalidBody(fx)).map((body) =>
        jsonCase(
          `${ep}/valid-auth`,
          'POST',
          `/v1/pbx/${fx.tenant.id}/${ep}${q}`,
          body,
          withAuth(fx, auth, body, ct ?? 'application/json'),
        ),
      ),
    );
  const unauthorized = fc
    .tuple(
      endpoint,
      tenantIdArb(fx),
      fc.oneof(
        jsonText,
        malformedJson,
        validEvent.map((e) => JSON.stringify(e)),
        fc
          .array(validEvent, { minLength: 1, maxLength: 3 })
          .map((evs) => JSON.stringify({ events: evs })),
        fc.constant(JSON.stringify({ callId: 'c', from: '+79161234567' })),
      ),
      contentType,
    )
    .chain(([ep, tenantId, body, ct]) =>
      badAuth(fx, body).map((headers) =>
        jsonCase(`${ep}/bad-auth`, 'POST', `/v1/pbx/${tenantId}/${ep}`, body, [
          ...(ct === null ? [] : ([['content-type', ct]] as [string, string][])),
          ...headers,
        ]),
      ),
    );
  // A valid signature on another tenant's path: the path decides, and it must refuse.
  const wrongTenant = fc.tuple(endpoint, UUIDISH, validEvent).map(([ep, other, ev]) => {
    const body = JSON.stringify(ev);
    return jsonCase(
      `${ep}/other-tenant`,
      'POST',
      `/v1/pbx/${other}/${ep}`,
      body,
      withAuth(fx, 'signature', body, 'application/json'),
    );
  });
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 4, arbitrary: unauthorized },
    { weight: 1, arbitrary: wrongTenant },
  );
}

function encodeForm(fields: [string, string][]): string {
  return fields.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&');
}

const ZADARMA_KEYS = [
  'event',
  'zd_echo',
  'call_start',
  'pbx_call_id',
  'caller_id',
  'called_did',
  'internal',
  'destination',
  'disposition',
  'duration',
  'status_code',
  'is_recorded',
  'call_id_with_rec',
  'last_internal',
  '__proto__',
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  'constructor',
  'toString',
  'hasOwnProperty',
];

const zadarmaFields: fc.Arbitrary<[string, string][]> = fc.array(
  fc.tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...ZADARMA_KEYS) },
      { weight: 1, arbitrary: hostileString },
    ),
    fc.oneof(
      fc.constantFrom(
        'NOTIFY_START',
        'NOTIFY_INTERNAL',
        'NOTIFY_END',
        'NOTIFY_OUT_START',
        'NOTIFY_OUT_END',
        'NOTIFY_RECORD',
        'NOTIFY_IVR',
        'NOTIFY_ANSWER',
        '2026-11-25 10:00:00',
        '+79161234567',
        'ANSWER',
        '1',
      ),
      hostileString.map((s) => s.slice(0, 3000)),
    ),
  ),
  { maxLength: 12 },
);

function multipart(fields: [string, string][], boundary: string, breakIt: number): string {
  const parts = fields.map(
    ([k, v]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${k.replace(/"/g, '')}"\r\n\r\n${v}\r\n`,
  );
  const body = `${parts.join('')}--${boundary}--\r\n`;
  switch (breakIt) {
    case 1:
      return body.replace(/\r\n\r\n/, '\r\n');
    case 2:
      return body.replace(/Content-Disposition: form-data; /, '');
    case 3:
      return body.slice(0, Math.floor(body.length / 2));
    case 4:
      return `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\nbinary\r\n--${boundary}--`;
    default:
      return body;
  }
}

/** /v1/pbx/:tenantId/zadarma: form and multipart bodies, signatures never valid. */
function zadarmaCases(fx: Fixture): fc.Arbitrary<FuzzCase> {
  const signature = fc.oneof(
    fc.constant<string | null>(null),
    hostileString.map(headerSafe),
    fc.base64String({ maxLength: 60 }),
    // A signature of something else with the real secret: still not this body's.
    fc
      .nat()
      .map((n) =>
        Buffer.from(createHmac('sha1', ZADARMA_SECRET).update(`other${n}`).digest('hex')).toString(
          'base64',
        ),
      ),
  );
  const post = fc
    .tuple(
      tenantIdArb(fx),
      zadarmaFields,
      fc.constantFrom('form', 'multipart', 'json', 'raw'),
      signature,
      fc
        .string({ unit: 'binary-ascii', minLength: 1, maxLength: 70 })
        .map((b) => b.replace(/[\r\n"]/g, 'x')),
      fc.integer({ min: 0, max: 6 }),
      malformedJson,
      queryString,
    )
    .map(([tenantId, fields, encoding, sig, boundary, breakIt, raw, q]) => {
      let body: string;
      let ct: string;
      if (encoding === 'form') {
        body = encodeForm(fields);
        ct = 'application/x-www-form-urlencoded';
      } else if (encoding === 'multipart') {
        body = multipart(fields, boundary, breakIt);
        ct =
          breakIt === 5
            ? 'multipart/form-data'
            : `multipart/form-data; boundary=${breakIt === 6 ? `"${boundary}"` : boundary}`;
      } else if (encoding === 'json') {
        body = JSON.stringify(Object.fromEntries(fields));
        ct = 'application/json';
      } else {
        body = raw;
        ct = 'application/x-www-form-urlencoded';
      }
      const headers: [string, string][] = [['content-type', ct]];
      if (sig !== null) headers.push(['signature', sig]);
      return jsonCase(
        `zadarma/${encoding}`,
        'POST',
        `/v1/pbx/${tenantId}/zadarma${q}`,
        body,
        headers,
      );
    });
  const echo = fc
    .tuple(tenantIdArb(fx), queryString, fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'))
    .map(([tenantId, q, method]) => ({
      kind: 'zadarma/echo',
      method,
      path: `/v1/pbx/${tenantId}/zadarma${q}`,
      headers: [] as [string, string][],
    }));
  return fc.oneof({ weight: 4, arbitrary: post }, { weight: 1, arbitrary: echo });
}

/** The tenant-scoped and operator API: tenants, integrations, agents, pbx-sources, calls. */
function adminCases(fx: Fixture): fc.Arbitrary<FuzzCase> {
  const t = fx.tenant.id;
  // Routes that validate a body: valid credentials allowed, with an invalid body.
  const bodyRoutes = fc.constantFrom(
    ['POST', '/v1/tenants'],
    ['PATCH', `/v1/tenants/${t}`],
    ['POST', `/v1/tenants/${t}/integrations`],
    ['PATCH', `/v1/tenants/${t}/integrations/${fx.integrationId}`],
    ['PUT', `/v1/tenants/${t}/agents`],
    ['POST', `/v1/tenants/${t}/pbx-sources`],
    ['PATCH', `/v1/tenants/${t}/pbx-sources/${fx.genericSourceId}`],
    ['PATCH', `/v1/tenants/${t}/pbx-sources/${fx.zadarmaSourceId}`],
    ['POST', `/v1/tenants/${t}/calls/originate`],
  );
  const validAuth = fc
    .tuple(bodyRoutes, fc.constantFrom<Auth>('admin', 'apiKey'), invalidBody(fx), contentType)
    .map(([[method, path], auth, body, ct]) =>
      jsonCase(
        'admin/valid-auth',
        method,
        path,
        body,
        withAuth(fx, auth, body, ct ?? 'application/json'),
      ),
    );
  // Reads with valid credentials and hostile params: nothing to store by nature.
  const reads = fc
    .tuple(
      fc.constantFrom(
        '/v1/tenants',
        `/v1/tenants/{t}`,
        `/v1/tenants/{t}/integrations`,
        `/v1/tenants/{t}/integrations/{x}`,
        `/v1/tenants/{t}/agents`,
        `/v1/tenants/{t}/pbx-sources`,
        `/v1/tenants/{t}/pbx-sources/{x}`,
        `/v1/tenants/{t}/calls`,
        `/v1/tenants/{t}/calls/{x}`,
        '/v1/connectors',
      ),
      tenantIdArb(fx),
      fc.oneof(segment, fc.constantFrom(fx.callId, fx.integrationId, fx.zadarmaSourceId)),
      queryString,
      fc.constantFrom<Auth>('admin', 'apiKey'),
    )
    .map(([tpl, tenantId, x, q, auth]) => ({
      kind: 'admin/read',
      method: 'GET',
      path: `${tpl.replace('{t}', tenantId).replace('{x}', x)}${q}`,
      headers: withAuth(fx, auth, '', null),
    }));
  // Everything, any method, without valid credentials: must be refused before it acts.
  const anyRoute = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
      fc.constantFrom(
        '/v1/tenants',
        '/v1/tenants/{t}',
        '/v1/tenants/{t}/rotate-secrets',
        '/v1/tenants/{t}/integrations',
        '/v1/tenants/{t}/integrations/{x}',
        '/v1/tenants/{t}/agents',
        '/v1/tenants/{t}/pbx-sources',
        '/v1/tenants/{t}/pbx-sources/{x}',
        '/v1/tenants/{t}/calls',
        '/v1/tenants/{t}/calls/{x}',
        '/v1/tenants/{t}/calls/originate',
      ),
      tenantIdArb(fx),
      fc.oneof(segment, fc.constantFrom(fx.integrationId, fx.genericSourceId, fx.zadarmaSourceId)),
      fc.oneof(
        jsonText,
        malformedJson,
        fc.constant('{"name":"Valid tenant"}'),
        fc.constant(JSON.stringify([{ extension: '999', crmUsers: {} }])),
        fc.constant('{"type":"generic","config":{}}'),
      ),
      contentType,
    )
    .chain(([method, tpl, tenantId, x, body, ct]) =>
      badAuth(fx, body).map((headers) =>
        jsonCase('admin/bad-auth', method, tpl.replace('{t}', tenantId).replace('{x}', x), body, [
          ...(ct === null ? [] : ([['content-type', ct]] as [string, string][])),
          ...headers,
        ]),
      ),
    );
  // Deletes with valid credentials, but never of an id that exists.
  const deletes = fc
    .tuple(
      fc.constantFrom('integrations', 'pbx-sources'),
      fc.oneof(segment, UUIDISH),
      fc.constantFrom<Auth>('admin', 'apiKey'),
    )
    .filter(([, id]) => ![fx.integrationId, fx.genericSourceId, fx.zadarmaSourceId].includes(id))
    .map(([what, id, auth]) => ({
      kind: 'admin/delete-unknown',
      method: 'DELETE',
      path: `/v1/tenants/${t}/${what}/${id}`,
      headers: withAuth(fx, auth, '', null),
    }));
  return fc.oneof(
    { weight: 4, arbitrary: validAuth },
    { weight: 2, arbitrary: reads },
    { weight: 4, arbitrary: anyRoute },
    { weight: 1, arbitrary: deletes },
  );
}

/** CRM callbacks (no credential but the connector's own secret) and recording links. */
function callbackCases(fx: Fixture): fc.Arbitrary<FuzzCase> {
  const crm = fc
    .tuple(
      fc.oneof(fc.constant('retailcrm'), segment),
      fc.oneof({ weight: 3, arbitrary: fc.constant(fx.integrationId) }, UUIDISH, segment),
      fc.oneof(fc.constantFrom('make-call', 'change-status', 'makeCall', ''), segment),
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
      queryString,
      fc.oneof(
        fc.constant(''),
        fc.constant('clientId=guess&code=101&phone=89161234567&userId=27'),
        fc
          .tuple(hostileString, hostileString)
          .map(([a, b]) => `clientId=${pct(a)}&phone=${pct(b)}&code=101`),
      ),
      fc.oneof(jsonText, malformedJson, zadarmaFields.map(encodeForm)),
      fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
    )
    .map(([connector, integrationId, action, method, q, extraQuery, body, ct]) => {
      const query = extraQuery ? (q ? `${q}&${extraQuery}` : `?${extraQuery}`) : q;
      const hasBody = method !== 'GET';
      return {
        kind: 'crm-callback',
        method,
        path: `/v1/crm/${connector}/${integrationId}/${action}${query}`,
        headers: hasBody ? ([['content-type', ct]] as [string, string][]) : [],
        body: hasBody ? Buffer.from(body, 'utf8') : undefined,
      };
    });
  const recordings = fc
    .tuple(
      fc.oneof(
        fc
          .base64String({ maxLength: 400 })
          .map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')),
        fc
          .tuple(fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 90 }))
          .map(([a, b]) => pct(`${a}.${b}`)),
        segment,
      ),
      fc.constantFrom('GET', 'HEAD', 'POST'),
      queryString,
    )
    .map(([token, method, q]) => ({
      kind: 'recording',
      method,
      path: `/v1/recordings/${token}${q}`,
      headers: [] as [string, string][],
    }));
  return fc.oneof(crm, recordings);
}

/** Hostility at the HTTP level: methods, request targets, header junk, ops endpoints. */
function httpCases(fx: Fixture): fc.Arbitrary<FuzzCase> {
  const opsPaths = fc.constantFrom(
    '/health/live',
    '/health/ready',
    '/metrics',
    '/docs',
    '/docs-json',
    '/docs/',
    '/static/hub.svg',
    '/admin/queues',
    '/admin/queues/',
    '/admin/queues/api/queues',
    `/v1/pbx/${fx.tenant.id}/events`,
    '/',
    '/v1',
    '/v1/',
  );
  const method = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'TRACE',
        'CONNECT',
        'PROPFIND',
        'FOO',
        'get',
        'G\u0000T',
        'M-SEARCH',
      ),
    },
  );
  const target = fc.oneof(
    opsPaths.chain((p) => queryString.map((q) => `${p}${q}`)),
    fc.array(segment, { minLength: 1, maxLength: 6 }).map((segs) => `/${segs.join('/')}`),
    fc.constantFrom(
      '*',
      '//v1//tenants',
      '/v1/tenants/../../etc/passwd',
      '/v1/tenants/%2e%2e/%2e%2e',
      'http://evil.example/v1/tenants',
      '/v1/tenants?__proto__[polluted]=1',
      '/%',
      '/\u00ff',
      '/v1/pbx/%00/events',
    ),
  );
  // Admin-only APIs (the queue dashboard mutates queues) never get the admin token here.
  return fc
    .tuple(
      method,
      target,
      junkHeaders,
      fc.option(fc.oneof(jsonText, malformedJson), { nil: undefined }),
      contentType,
    )
    .map(([m, path, headers, body, ct]) => ({
      kind: 'http',
      method: m,
      path,
      headers: [
        ...(ct === null || body === undefined
          ? []
          : ([['content-type', ct]] as [string, string][])),
        ...headers,
      ],
      body: body === undefined ? undefined : Buffer.from(body, 'utf8'),
    }));
}

// ---------- the suite ----------

describe('faults: fuzzing every public endpoint with hostile input', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp | undefined;
  let fx: Fixture;
  let port = 0;
  const baseline: Record<string, number> = {};
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  const TABLES = [
    'tenants',
    'integrations',
    'pbx_sources',
    'agents',
    'agent_crm_users',
    'calls',
    'call_events',
    'call_sync',
  ];

  const counts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const table of TABLES) {
      const [row] = (await t!.db.query(`SELECT COUNT(*) AS n FROM ${table}`)) as { n: string }[];
      out[table] = Number(row.n);
    }
    return out;
  };

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    t = await startTestApp({ HUB_PUBLIC_URL: 'http://127.0.0.1:1' });
    port = Number(new URL(t.url).port);
    const tenant = await createTenant(t, { name: 'Fuzz fixture', routingBudgetMs: 200 });
    const integration = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: sandbox.url },
        credentials: { apiKey: sandbox.apiKey },
      },
    });
    expect(integration.status).toBe(201);
    const zadarma = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'zadarma',
        config: { apiUrl: 'http://127.0.0.1:2' },
        credentials: { key: 'zd-key', secret: ZADARMA_SECRET },
      },
    });
    expect(zadarma.status).toBe(201);
    const generic = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: 'http://127.0.0.1:2/originate' } },
    });
    expect(generic.status).toBe(201);
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', name: 'Ivan', crmUsers: { [integration.body.id]: '27' } }],
    });
    expect(agents.status).toBe(200);
    const callId = 'fixture-call';
    const ev = await postEvents(t, tenant, {
      id: 'fixture-1',
      callId,
      type: 'call.started',
      direction: 'inbound',
      from: '+79161234567',
      at: '2026-11-25T10:00:00Z',
    });
    expect(ev.status).toBe(202);
    fx = {
      tenant,
      integrationId: integration.body.id,
      zadarmaSourceId: zadarma.body.id,
      genericSourceId: generic.body.id,
      callId,
    };
    // Let the fixture's own background work (call processing, CRM actions) settle first.
    const deadline = Date.now() + 20000;
    let before = await counts();
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await counts();
      const [row] = (await t.db.query(
        'SELECT COUNT(*) AS n FROM call_events WHERE processed_at IS NULL',
      )) as { n: string }[];
      if (JSON.stringify(now) === JSON.stringify(before) && Number(row.n) === 0) break;
      if (Date.now() > deadline) throw new Error('fixture did not settle');
      before = now;
    }
    Object.assign(baseline, before);
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  }, 60000);

  async function run(
    arb: fc.Arbitrary<FuzzCase>,
    numRuns: number,
    seedOffset: number,
  ): Promise<void> {
    const cases = fc.sample(arb, { numRuns, seed: SEED + seedOffset });
    const findings: Finding[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const c = cases[next++];
        const res = await rawHttp(port, c);
        // A 5xx is a bug; so is no answer at all, except for requests HTTP itself refuses to parse
        // (an answer is then optional: Node may close the connection right after its 400).
        if (
          (res.status !== null && res.status >= 500) ||
          (res.status === null && !httpLevelJunk(c))
        ) {
          findings.push({
            kind: c.kind,
            method: c.method,
            path: c.path.slice(0, 500),
            headers: c.headers.map(([k, v]) => [k, v.slice(0, 200)]),
            body: (c.body ?? Buffer.alloc(0)).toString('utf8').slice(0, 1000),
            status: res.status,
            error: res.error,
            head: res.head.slice(0, 600),
          });
        }
        if (next % 200 === 0) {
          const live = await rawHttp(port, { method: 'GET', path: '/health/live', headers: [] });
          if (live.status !== 200)
            throw new Error(`hub is down after input #${next}: ${live.head}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    if (findings.length)
      console.log(`fuzz seed ${SEED + seedOffset}`, JSON.stringify(findings.slice(0, 5), null, 1));
    expect(findings.slice(0, 5)).toEqual([]);
    const live = await rawHttp(port, { method: 'GET', path: '/health/live', headers: [] });
    expect(live.status).toBe(200);
  }

  it('PBX ingest and routing (2,500 inputs)', () => run(pbxCases(fx), 2500, 1), 85000);
  it(
    'Zadarma webhooks: form, multipart, echo (1,500 inputs)',
    () => run(zadarmaCases(fx), 1500, 2),
    85000,
  );
  it('tenant and operator API (2,500 inputs)', () => run(adminCases(fx), 2500, 3), 85000);
  it(
    'CRM callbacks and recording links (1,500 inputs)',
    () => run(callbackCases(fx), 1500, 4),
    85000,
  );
  it(
    'HTTP-level junk and operations endpoints (2,000 inputs)',
    () => run(httpCases(fx), 2000, 5),
    85000,
  );

  it('stored nothing, polluted no prototype and still serves', async () => {
    // Background work the inputs might have queued gets a moment to show up.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await counts()).toEqual(baseline);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await t!.request('GET', '/health/ready')).status).toBe(200);
    const tenants = await t!.request('GET', '/v1/tenants');
    expect(tenants.body).toHaveLength(1);
  });
});

/** A character HTTP forbids in a header value (tab is allowed). */
function isControl(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

/** Requests whose method or target HTTP refuses before the app sees them. */
function httpLevelJunk(c: FuzzCase): boolean {
  return (
    !/^[A-Z]+$/.test(c.method) ||
    !['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE'].includes(c.method) ||
    /[^\x21-\x7e]/.test(c.path) ||
    c.headers.some(([k, v]) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || [...v].some(isControl))
  );
}
