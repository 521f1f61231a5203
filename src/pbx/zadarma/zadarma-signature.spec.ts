import {
  buildQuery,
  checkWebhookSignature,
  phpUrlencode,
  signApiRequest,
  signatureString,
  ZADARMA_EVENTS,
  zadarmaHmac,
} from './zadarma-signature';

// Vectors computed independently (Python hmac/hashlib/base64 and urllib quote_plus + "~" → %7E,
// i.e. PHP urlencode), not with the code under test.
const SECRET = 'Sx7Kq2ZtF0vR9mW3';
const CALL = {
  caller_id: '79161234567',
  called_did: '74951234567',
  call_start: '2024-05-14 10:15:02',
  pbx_call_id: 'in_5b0e1c41',
};

describe('Zadarma webhook signature', () => {
  it('is base64 of the hex HMAC-SHA1 of the documented concatenation', () => {
    expect(zadarmaHmac(SECRET, '7916123456774951234567' + '2024-05-14 10:15:02')).toBe(
      'YmU1MDYwNjNlY2ZjM2Q5MWQwYTBjM2JiZGFjMzM5ZTc2ZGNhMzIzOQ==',
    );
  });

  it.each([
    ['NOTIFY_START', CALL, 'YmU1MDYwNjNlY2ZjM2Q5MWQwYTBjM2JiZGFjMzM5ZTc2ZGNhMzIzOQ=='],
    [
      'NOTIFY_INTERNAL',
      { ...CALL, internal: '101' },
      'YmU1MDYwNjNlY2ZjM2Q5MWQwYTBjM2JiZGFjMzM5ZTc2ZGNhMzIzOQ==',
    ],
    [
      'NOTIFY_END',
      { ...CALL, disposition: 'answered', duration: '95' },
      'YmU1MDYwNjNlY2ZjM2Q5MWQwYTBjM2JiZGFjMzM5ZTc2ZGNhMzIzOQ==',
    ],
    ['NOTIFY_IVR', CALL, 'YmU1MDYwNjNlY2ZjM2Q5MWQwYTBjM2JiZGFjMzM5ZTc2ZGNhMzIzOQ=='],
    [
      'NOTIFY_ANSWER',
      { ...CALL, called_did: undefined, destination: '101' },
      'MmFjYzM3YTRhOGU5YWYwODkyODYyMjNhOTkwYjAxZmNjODBmNmMyMA==',
    ],
    [
      'NOTIFY_OUT_START',
      { internal: '101', destination: '79161234567', call_start: '2024-05-14 11:00:10' },
      'ZDA2MjUwYTMwMjM1NGNlZTNhYmY5ZTlhN2RlNTMzYmI2NTNhYmZiMA==',
    ],
    [
      'NOTIFY_OUT_END',
      {
        internal: '101',
        destination: '79161234567',
        call_start: '2024-05-14 11:00:10',
        caller_id: '74951234567',
      },
      'ZDA2MjUwYTMwMjM1NGNlZTNhYmY5ZTlhN2RlNTMzYmI2NTNhYmZiMA==',
    ],
    [
      'NOTIFY_RECORD',
      { pbx_call_id: 'in_5b0e1c41', call_id_with_rec: '1715670902.123456' },
      'M2FmNjEzZmE0NDQ3OGZiYWEyMDJmOTZlM2ExY2QzNjkwYTE3NGVhNQ==',
    ],
  ] as const)('accepts a correct %s signature and nothing else', (event, fields, signature) => {
    expect(checkWebhookSignature(SECRET, event, fields, signature)).toBe('ok');
    expect(checkWebhookSignature('another-secret', event, fields, signature)).toBe('mismatch');
    expect(checkWebhookSignature(SECRET, event, fields, signature.slice(0, -2))).toBe('mismatch');
    expect(checkWebhookSignature(SECRET, event, fields, '')).toBe('mismatch');
    // A change in a signed field breaks it.
    const tampered = { ...fields, call_start: '2024-05-14 10:15:03', call_id_with_rec: 'x' };
    expect(checkWebhookSignature(SECRET, event, tampered, signature)).toBe('mismatch');
  });

  it('recognizes the raw-digest base64 form of the official TS SDK but does not accept it', () => {
    expect(
      checkWebhookSignature(SECRET, 'NOTIFY_START', CALL, 'vlBgY+z8PZHQoMO72sM5523KMjk='),
    ).toBe('raw_base64');
  });

  it('covers every event it accepts with a concatenation of the right fields', () => {
    for (const event of ZADARMA_EVENTS) {
      expect(signatureString(event, { ...CALL, internal: '1', destination: '2' }).length).toBe(
        event === 'NOTIFY_RECORD'
          ? 'in_5b0e1c41'.length
          : event.startsWith('NOTIFY_OUT')
            ? 2 + 19
            : event === 'NOTIFY_ANSWER'
              ? 11 + 1 + 19
              : 11 + 11 + 19,
      );
    }
    expect(signatureString('NOTIFY_ANSWER', { caller_id: 'a', destination: 'b' })).toBe('ab');
  });
});

describe('Zadarma REST request signing', () => {
  it('signs the callback worked example of the spec', () => {
    const signed = signApiRequest('user-key', SECRET, '/v1/request/callback/', {
      to: '79161234567',
      from: '101',
      sip: '101',
      format: 'json',
    });
    expect(signed.query).toBe('format=json&from=101&sip=101&to=79161234567');
    expect(signed.authorization).toBe(
      'user-key:NzRlNTM1ZGEzYmUyNzU1Y2M5ZTMyZWRiZDYwYTQ5MjcwNTc2ZDk1MQ==',
    );
  });

  it('signs a request without params over md5 of the empty string', () => {
    const signed = signApiRequest('k', SECRET, '/v1/info/balance/', {});
    expect(signed.query).toBe('');
    expect(signed.authorization).toBe('k:YjVjYzY4Y2E4MWJlMmZiN2ExYWFhNjJiOWJmNjNiODUyZmJlZTE1OQ==');
  });

  it("encodes like PHP http_build_query RFC1738, including !'()*~ and UTF-8", () => {
    const params = {
      b: "it's (a) test!*~ x",
      a: '1+2=3&4',
      lifetime: 5184000,
      name: 'Иван',
      skipped: undefined,
    };
    const signed = signApiRequest('k', SECRET, '/v1/pbx/record/request/', params);
    expect(signed.query).toBe(
      'a=1%2B2%3D3%264&b=it%27s+%28a%29+test%21%2A%7E+x&lifetime=5184000&name=%D0%98%D0%B2%D0%B0%D0%BD',
    );
    expect(signed.authorization).toBe('k:Y2U5ZGRjOGU0YWQ5YTMyODRmOGFjZGUzNmU3MzlkYzhkZjhmY2QzMg==');
  });

  it('keeps only [A-Za-z0-9_.-] literal', () => {
    expect(phpUrlencode('aZ09_.-')).toBe('aZ09_.-');
    expect(phpUrlencode(' /?#[]@$,;:"<>')).toBe('+%2F%3F%23%5B%5D%40%24%2C%3B%3A%22%3C%3E');
    expect(buildQuery({ z: 1, a: true, m: 'x y' })).toBe('a=true&m=x+y&z=1');
  });
});
