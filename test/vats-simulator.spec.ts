import { createServer, Server } from 'node:http';
import {
  DEFAULT_VATS_USERS,
  FakeVatsApi,
  postDate,
  restDate,
  VatsPbx,
  vatsUser,
} from './support/vats-simulator';
import { closeServer, listenOnLoopback } from './support/loopback';

const API_KEY = 'vats-api-key-0001';
const TOKEN = 'crm-token-abc';
const CLIENT = '79161234567';
const DID = '74951234567';

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  raw: string;
  fields: Record<string, string>;
}

/** A stand-in for the hub: records each post and answers contact with `contactReply`. */
class CapturingHub {
  readonly received: Received[] = [];
  contactReply: unknown = { contact_name: 'Petrov P. (Romashka LLC)', responsible: 'ivanov' };
  private server: Server | null = null;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const fields = Object.fromEntries(new URLSearchParams(raw));
        this.received.push({
          method: req.method ?? '',
          path: req.url ?? '',
          contentType: req.headers['content-type'],
          raw,
          fields,
        });
        if (fields.cmd === 'contact') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(this.contactReply));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok');
        }
      });
    });
    this.url = `${await listenOnLoopback(this.server)}/v1/pbx/tenant-1/vats`;
    return this.url;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** "contact", "event:INCOMING", "history:missed"… in the order received. */
  steps(): string[] {
    return this.received.map(({ fields: f }) =>
      f.cmd === 'event' ? `event:${f.type}` : f.cmd === 'history' ? `history:${f.status}` : f.cmd,
    );
  }
}

describe('VATS simulator', () => {
  const hub = new CapturingHub();
  const api = new FakeVatsApi({ apiKey: API_KEY });
  let pbx: VatsPbx;

  const call = (path: string, init: RequestInit = {}, key: string | null = API_KEY) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: {
        ...(key === null ? {} : { 'X-API-KEY': key }),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
    });

  beforeAll(async () => {
    await Promise.all([hub.start(), api.start()]);
    pbx = new VatsPbx({ crmUrl: hub.url, crmToken: TOKEN, api });
  });
  afterAll(async () => {
    await Promise.all([hub.stop(), api.stop()]);
  });
  beforeEach(() => {
    hub.received.length = 0;
    hub.contactReply = { contact_name: 'Petrov P. (Romashka LLC)', responsible: 'ivanov' };
    api.requests.length = 0;
    api.makecalls.length = 0;
    api.failMakecall = undefined;
    api.onMakecall = undefined;
  });

  describe('PBX → hub posts', () => {
    it('posts contact form-encoded to the CRM URL with crm_token and parses the JSON reply', async () => {
      const reply = await pbx.contact({ phone: CLIENT, diversion: DID, callid: '9ab41c0e' });

      expect(hub.received).toHaveLength(1);
      const [got] = hub.received;
      expect(got.method).toBe('POST');
      expect(got.path).toBe('/v1/pbx/tenant-1/vats');
      expect(got.contentType).toBe('application/x-www-form-urlencoded');
      expect(got.raw).toBe(
        `cmd=contact&phone=${CLIENT}&diversion=${DID}&callid=9ab41c0e&crm_token=${TOKEN}`,
      );
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        contact_name: 'Petrov P. (Romashka LLC)',
        responsible: 'ivanov',
      });
    });

    it('posts an event with every documented field and returns a text reply as text', async () => {
      const reply = await pbx.event({
        type: 'INCOMING',
        direction: 'in',
        phone: CLIENT,
        diversion: DID,
        user: 'ivanov',
        ext: '101',
        telnum: '74951234501',
        groupRealName: 'Sales',
        callid: '9ab41c0e',
      });

      expect(hub.received[0].fields).toEqual({
        cmd: 'event',
        type: 'INCOMING',
        direction: 'in',
        phone: CLIENT,
        diversion: DID,
        user: 'ivanov',
        ext: '101',
        telnum: '74951234501',
        groupRealName: 'Sales',
        callid: '9ab41c0e',
        crm_token: TOKEN,
      });
      expect(reply.body).toBe('ok');
    });

    it('formats the history start as UTC YYYYMMDDThhmmssZ and url-encodes the link', async () => {
      await pbx.history({
        type: 'in',
        status: 'Success',
        phone: CLIENT,
        diversion: DID,
        user: 'ivanov',
        ext: '101',
        start: new Date('2024-05-14T10:15:02.750+03:00'),
        duration: 95,
        callid: 'hist-1',
        link: 'https://pbx.example.com/rec/record.mp3',
      });

      const [got] = hub.received;
      expect(got.fields.start).toBe('20240514T071502Z');
      expect(got.fields).toMatchObject({ cmd: 'history', type: 'in', status: 'Success' });
      expect(got.fields.duration).toBe('95');
      expect(got.raw).toContain('link=https%3A%2F%2Fpbx.example.com%2Frec%2Frecord.mp3');
      expect(got.raw.endsWith(`&crm_token=${TOKEN}`)).toBe(true);
      expect(postDate(new Date('2026-01-02T03:04:05Z'))).toBe('20260102T030405Z');
    });

    it('posts a rating with its five fields', async () => {
      await pbx.rating({ callid: 'r-1', rating: 5, phone: CLIENT, user: 'ivanov', ext: '101' });

      expect(hub.received[0].fields).toEqual({
        cmd: 'rating',
        callid: 'r-1',
        rating: '5',
        phone: CLIENT,
        user: 'ivanov',
        ext: '101',
        crm_token: TOKEN,
      });
    });

    it('sends a replaced token or none when a test asks', async () => {
      await pbx.post('contact', { phone: CLIENT, callid: 'x' }, { crmToken: 'wrong' });
      await pbx.post('contact', { phone: CLIENT, callid: 'y' }, { crmToken: null });

      expect(hub.received[0].fields.crm_token).toBe('wrong');
      expect(hub.received[1].fields).not.toHaveProperty('crm_token');
    });

    it('plays an answered inbound call with a recording link the API serves as audio/mpeg', async () => {
      const played = await pbx.inboundAnswered({
        phone: CLIENT,
        diversion: DID,
        user: 'ivanov',
        ext: '101',
        durationS: 95,
        recorded: true,
      });

      expect(played.callid).toMatch(/^[0-9a-f]{16}$/);
      expect(hub.steps()).toEqual([
        'contact',
        'event:INCOMING',
        'event:ACCEPTED',
        'event:COMPLETED',
        'history:Success',
      ]);
      expect(played.replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      for (const { fields } of hub.received) {
        expect(fields.callid).toBe(played.callid);
        expect(fields.crm_token).toBe(TOKEN);
      }
      const event = hub.received[1].fields;
      expect(event).toMatchObject({ direction: 'in', user: 'ivanov', ext: '101', phone: CLIENT });
      expect(event.telnum).toBe(DEFAULT_VATS_USERS[0].telnum);
      const history = hub.received[4].fields;
      expect(history.start).toMatch(/^\d{8}T\d{6}Z$/);
      expect(history.duration).toBe('95');
      expect(history.link).toBe(`${api.url}/records/${played.callid}.mp3`);

      const audio = await fetch(history.link);
      expect(audio.status).toBe(200);
      expect(audio.headers.get('content-type')).toBe('audio/mpeg');
      expect(
        Buffer.from(await audio.arrayBuffer())
          .subarray(0, 3)
          .toString(),
      ).toBe('ID3');
      expect(api.history.find((e) => e.uid === played.callid)).toMatchObject({
        type: 'in',
        status: 'Success',
        client: CLIENT,
        user: 'ivanov',
        user_name: 'Ivan Ivanov',
        record: history.link,
      });
    });

    it('routes an inbound call to the responsible the hub names when no user is given', async () => {
      hub.contactReply = { contact_name: 'Sidorova', responsible: '102' };

      const played = await pbx.inboundAnswered({ phone: CLIENT, diversion: DID, durationS: 10 });

      const events = hub.received.filter((r) => r.fields.cmd !== 'contact');
      expect(events.map((r) => [r.fields.user, r.fields.ext])).toEqual([
        ['petrova', '102'],
        ['petrova', '102'],
        ['petrova', '102'],
        ['petrova', '102'],
      ]);
      expect(played.history.user).toBe('petrova');
      expect(hub.received[4].fields.link).toBeUndefined();
    });

    it('plays a missed call: every ringing employee gets INCOMING then CANCELLED', async () => {
      const played = await pbx.inboundMissed({
        phone: CLIENT,
        diversion: DID,
        ring: [
          { user: 'ivanov', ext: '101' },
          { user: 'petrova', ext: '102' },
        ],
      });

      expect(hub.steps()).toEqual([
        'contact',
        'event:INCOMING',
        'event:INCOMING',
        'event:CANCELLED',
        'event:CANCELLED',
        'history:missed',
      ]);
      expect(hub.received.slice(1, 5).map((r) => r.fields.ext)).toEqual([
        '101',
        '102',
        '101',
        '102',
      ]);
      expect(hub.received[5].fields).toMatchObject({
        type: 'in',
        status: 'missed',
        duration: '0',
        user: 'ivanov',
        ext: '101',
        callid: played.callid,
      });
    });

    it('plays outbound calls, answered and not', async () => {
      const answered = await pbx.outbound({
        user: 'ivanov',
        ext: '101',
        phone: CLIENT,
        answered: true,
        durationS: 42,
      });
      const steps = hub.steps();
      hub.received.length = 0;
      const unanswered = await pbx.outbound({
        user: 'ivanov',
        ext: '101',
        phone: CLIENT,
        answered: false,
        durationS: 42,
      });

      expect(steps).toEqual([
        'event:OUTGOING',
        'event:ACCEPTED',
        'event:COMPLETED',
        'history:Success',
      ]);
      expect(hub.steps()).toEqual(['event:OUTGOING', 'event:CANCELLED', 'history:Cancel']);
      expect(hub.received[0].fields).toMatchObject({ direction: 'out', phone: CLIENT });
      expect(hub.received[2].fields).toMatchObject({ type: 'out', duration: '0' });
      expect(answered.history).toMatchObject({ type: 'out', status: 'Success', duration: 42 });
      expect(unanswered.callid).not.toBe(answered.callid);
    });

    it('plays a transfer, TRANSFERRED naming the employee the call goes to', async () => {
      await pbx.transferred({
        phone: CLIENT,
        diversion: DID,
        from: { user: 'ivanov', ext: '101' },
        to: { user: 'petrova', ext: '102' },
        durationS: 120,
      });

      const events = hub.received.filter((r) => r.fields.cmd === 'event');
      expect(events.map((r) => `${r.fields.type}:${r.fields.ext}`)).toEqual([
        'INCOMING:101',
        'ACCEPTED:101',
        'TRANSFERRED:102',
        'INCOMING:102',
        'ACCEPTED:102',
        'COMPLETED:102',
      ]);
      expect(hub.received.at(-1)!.fields).toMatchObject({
        cmd: 'history',
        user: 'petrova',
        ext: '102',
        duration: '120',
      });
    });

    it('with historyOnly posts nothing and leaves the call for history/json to find', async () => {
      const start = new Date('2024-06-01T07:15:02Z');
      const played = await pbx.inboundAnswered({
        phone: CLIENT,
        diversion: DID,
        user: 'sidorov',
        ext: '103',
        durationS: 30,
        start,
        callid: 'offline-1',
        historyOnly: true,
      });

      expect(hub.received).toHaveLength(0);
      expect(played.replies).toEqual([]);
      const res = await call('/history/json?start=2024-06-01T07:00:00Z&end=2024-06-01T08:00:00Z');
      expect(await res.json()).toEqual([
        {
          uid: 'offline-1',
          type: 'in',
          status: 'Success',
          client: CLIENT,
          diversion: DID,
          destination: '103',
          user: 'sidorov',
          user_name: 'Oleg Sidorov',
          group_name: '',
          start: '2024-06-01T07:15:02Z',
          wait: 5,
          duration: 30,
          record: '',
          rating: null,
        },
      ]);
    });

    it('waits the step delay between posts', async () => {
      const started = Date.now();
      await pbx.outbound({
        user: 'ivanov',
        ext: '101',
        phone: CLIENT,
        answered: false,
        durationS: 0,
        stepDelayMs: 40,
      });

      expect(hub.received).toHaveLength(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    });
  });

  describe('REST API /crmapi/v1', () => {
    it('refuses a request without or with a wrong X-API-KEY with 401 and a JSON error', async () => {
      const none = await call('/users', {}, null);
      const wrong = await call('/users', {}, 'not-the-key');

      expect(none.status).toBe(401);
      expect(await none.json()).toEqual({ error: expect.any(String) });
      expect(wrong.status).toBe(401);
      expect(api.requests.map((r) => [r.method, r.path, r.apiKey])).toEqual([
        ['GET', '/crmapi/v1/users', undefined],
        ['GET', '/crmapi/v1/users', 'not-the-key'],
      ]);
    });

    it('serves its base URL under /crmapi/v1 on loopback', () => {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/crmapi\/v1$/);
    });

    it('lists users with the documented fields', async () => {
      const res = await call('/users');

      expect(res.status).toBe(200);
      const users = (await res.json()) as Record<string, unknown>[];
      expect(users).toHaveLength(DEFAULT_VATS_USERS.length);
      expect(Object.keys(users[0]).sort()).toEqual(
        [
          'email',
          'ext',
          'login',
          'mobile',
          'mobile_redirect',
          'name',
          'position',
          'role',
          'telnum',
        ].sort(),
      );
      expect(users[0]).toMatchObject({ login: 'ivanov', ext: '101', name: 'Ivan Ivanov' });
      expect(users[0].mobile_redirect).toEqual({ enabled: false, forward: '', delay: 0 });
    });

    it('places a makecall by login, extension or direct number and records it', async () => {
      const byLogin = await call('/makecall', {
        method: 'POST',
        body: JSON.stringify({ user: 'ivanov', phone: CLIENT }),
      });
      const byExt = await call('/makecall', {
        method: 'POST',
        body: JSON.stringify({ user: '102', phone: CLIENT }),
      });
      const byTelnum = await call('/makecall', {
        method: 'POST',
        body: JSON.stringify({ user: DEFAULT_VATS_USERS[2].telnum, phone: CLIENT }),
      });

      const ids = [];
      for (const res of [byLogin, byExt, byTelnum]) {
        expect(res.status).toBe(200);
        const body = (await res.json()) as { callid: string };
        expect(body.callid).toMatch(/^[0-9a-f]+$/);
        ids.push(body.callid);
      }
      expect(api.makecalls).toEqual([
        { user: 'ivanov', phone: CLIENT, callid: ids[0] },
        { user: '102', phone: CLIENT, callid: ids[1] },
        { user: DEFAULT_VATS_USERS[2].telnum, phone: CLIENT, callid: ids[2] },
      ]);
      expect(new Set(ids).size).toBe(3);
      expect(api.requests[0]).toMatchObject({
        method: 'POST',
        path: '/crmapi/v1/makecall',
        body: { user: 'ivanov', phone: CLIENT },
      });
    });

    it('answers 404 for an unknown user and 400 for a bad makecall body', async () => {
      const post = (body: string) => call('/makecall', { method: 'POST', body });

      const unknown = await post(JSON.stringify({ user: 'nobody', phone: CLIENT }));
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: 'user not found' });
      for (const bad of [
        JSON.stringify({ user: 'ivanov' }),
        JSON.stringify({ phone: CLIENT }),
        JSON.stringify({ user: 'ivanov', phone: '+7 916 123-45-67' }),
        'user=ivanov&phone=79161234567',
      ]) {
        const res = await post(bad);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({ error: expect.any(String) });
      }
      expect(api.makecalls).toHaveLength(0);
    });

    it('refuses a makecall as told by failMakecall', async () => {
      api.failMakecall = { status: 503, body: { error: 'service unavailable' } };

      const res = await call('/makecall', {
        method: 'POST',
        body: JSON.stringify({ user: 'ivanov', phone: CLIENT }),
      });

      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: 'service unavailable' });
      expect(api.makecalls).toHaveLength(0);
    });

    it('runs onMakecall after answering, so a test can play the outbound call', async () => {
      api.onMakecall = async (made, employee) => {
        await pbx.outbound({
          user: employee.login,
          ext: employee.ext,
          phone: made.phone,
          answered: true,
          durationS: 12,
          callid: made.callid,
        });
      };

      const res = await call('/makecall', {
        method: 'POST',
        body: JSON.stringify({ user: '101', phone: CLIENT }),
      });
      const { callid } = (await res.json()) as { callid: string };
      await api.settled();

      expect(hub.steps()).toEqual([
        'event:OUTGOING',
        'event:ACCEPTED',
        'event:COMPLETED',
        'history:Success',
      ]);
      expect(hub.received.every((r) => r.fields.callid === callid)).toBe(true);
      expect(hub.received[0].fields).toMatchObject({ user: 'ivanov', ext: '101' });
    });

    describe('history/json', () => {
      const seeded = new FakeVatsApi({ apiKey: API_KEY, users: [vatsUser('kim', '201')] });
      const get = (query: string) =>
        fetch(`${seeded.url}/history/json?${query}`, { headers: { 'X-API-KEY': API_KEY } });

      beforeAll(async () => {
        await seeded.start();
        const at = (iso: string) => new Date(iso);
        seeded.addHistory({
          uid: 'a',
          type: 'in',
          status: 'Success',
          client: '1',
          start: at('2024-05-14T06:59:59Z'),
        });
        seeded.addHistory({
          uid: 'b',
          type: 'in',
          status: 'Success',
          client: '2',
          start: at('2024-05-14T07:00:00Z'),
          user: 'kim',
        });
        seeded.addHistory({
          uid: 'c',
          type: 'out',
          status: 'Cancel',
          client: '3',
          start: at('2024-05-14T07:30:00Z'),
        });
        seeded.addHistory({
          uid: 'd',
          type: 'in',
          status: 'missed',
          client: '4',
          start: at('2024-05-14T07:45:00Z'),
        });
        seeded.addHistory({
          uid: 'e',
          type: 'in',
          status: 'Busy',
          client: '5',
          start: at('2024-05-14T07:50:00Z'),
        });
        seeded.addHistory({
          uid: 'f',
          type: 'in',
          status: 'Success',
          client: '6',
          start: at('2024-05-14T08:00:00Z'),
        });
      });
      afterAll(() => seeded.stop());

      const uids = async (query: string) => {
        const res = await get(query);
        expect(res.status).toBe(200);
        return ((await res.json()) as { uid: string }[]).map((e) => e.uid);
      };
      const PERIOD = 'start=2024-05-14T07:00:00Z&end=2024-05-14T08:00:00Z';

      it('returns the calls whose start lies in [start, end), oldest first', async () => {
        expect(await uids(PERIOD)).toEqual(['b', 'c', 'd', 'e']);
        expect(await uids(`${PERIOD}&type=all`)).toEqual(['b', 'c', 'd', 'e']);
      });

      it('filters by type in, out and missed, and honours limit', async () => {
        expect(await uids(`${PERIOD}&type=in`)).toEqual(['b', 'd', 'e']);
        expect(await uids(`${PERIOD}&type=out`)).toEqual(['c']);
        expect(await uids(`${PERIOD}&type=missed`)).toEqual(['d', 'e']);
        expect(await uids(`${PERIOD}&limit=2`)).toEqual(['b', 'c']);
      });

      it('writes entries with the documented fields and yyyy-MM-ddTHH:mm:ssZ dates', async () => {
        const res = await get(PERIOD);
        const [b] = (await res.json()) as Record<string, unknown>[];

        expect(b).toEqual({
          uid: 'b',
          type: 'in',
          status: 'Success',
          client: '2',
          diversion: '',
          destination: '',
          user: 'kim',
          user_name: 'kim',
          group_name: '',
          start: '2024-05-14T07:00:00Z',
          wait: 0,
          duration: 0,
          record: '',
          rating: null,
        });
        expect(restDate(new Date('2024-05-14T10:00:00.900+03:00'))).toBe('2024-05-14T07:00:00Z');
      });

      it('answers 400 to bad or missing dates and an unknown type', async () => {
        for (const query of [
          'start=2024-05-14 07:00:00&end=2024-05-14T08:00:00Z',
          'start=20240514T070000Z&end=2024-05-14T08:00:00Z',
          'start=2024-05-14T07:00:00Z',
          'start=2024-05-14T07:00:00Z&end=2024-13-45T08:00:00Z',
          `${PERIOD}&type=lost`,
          `${PERIOD}&limit=0`,
        ]) {
          const res = await get(query.replace(/ /g, '%20'));
          expect([query, res.status]).toEqual([query, 400]);
          expect(await res.json()).toEqual({ error: expect.any(String) });
        }
      });

      it('needs the API key', async () => {
        const res = await fetch(`${seeded.url}/history/json?${PERIOD}`);
        expect(res.status).toBe(401);
      });
    });

    it('answers 404 for a recording it does not have', async () => {
      const res = await fetch(`${api.url}/records/nope.mp3`);
      expect(res.status).toBe(404);
    });
  });
});
