import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { connectRetailcrm } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const LINE_A = '+74957654321';
const LINE_B = '+74950001122';

/** The call list's filters (agent, line, direction, result, CRM action state) and CSV export. */
describe('calls list: filters and CSV export', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;
  const started = Date.now() - 3600_000;
  const at = (s: number) => new Date(started + s * 1000).toISOString();

  const inbound = (callId: string, line: string, answeredBy: string | null, s: number) => {
    const base = { callId, direction: 'inbound', from: '+79161234567', to: line };
    return [
      {
        ...base,
        id: `${callId}-1`,
        type: 'call.ringing',
        extension: answeredBy ?? '102',
        at: at(s),
      },
      ...(answeredBy
        ? [
            {
              ...base,
              id: `${callId}-2`,
              type: 'call.answered',
              extension: answeredBy,
              at: at(s + 5),
            },
          ]
        : []),
      {
        ...base,
        id: `${callId}-3`,
        type: 'call.ended',
        result: answeredBy ? 'answered' : 'missed',
        duration: answeredBy ? 30 : 0,
        at: at(s + 35),
      },
    ];
  };

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    sandbox.addUser({ id: 31, firstName: 'Olga', code: '102' });
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Lists' });
    await connectRetailcrm(t, tenant.id, sandbox, {
      agents: { '101': '27', '102': '31' },
      settings: { createLeadFor: 'none' },
    });
    await postEvents(t, tenant, {
      events: [
        ...inbound('l-a1', LINE_A, '101', 0),
        ...inbound('l-b1', LINE_B, '102', 100),
        ...inbound('l-b2', LINE_B, null, 200),
        {
          id: 'l-o1-1',
          callId: 'l-o1',
          type: 'call.ended',
          direction: 'outbound',
          from: '101',
          to: '+79990001122',
          extension: '101',
          result: 'answered',
          duration: 12,
          at: at(300),
        },
      ],
    });
    await eventually(
      async () => ['l-a1', 'l-b1', 'l-b2', 'l-o1'].filter((id) => sandbox.uploadedCalls.has(id)),
      (logged) => logged.length === 4,
      20000,
    );
    // The next call's log is refused by the CRM: it fails for good.
    sandbox.failNext(1, {
      status: 400,
      body: { success: false, errorMsg: 'Calls are not uploaded' },
    });
    await postEvents(t, tenant, { events: inbound('l-f1', LINE_A, '101', 400) });
    await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/l-f1`),
      (r) => r.body?.integrations?.[0]?.actions?.log?.status === 'failed',
      20000,
    );
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  });

  const ids = async (query: string): Promise<string[]> => {
    const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls?${query}`);
    expect(res.status).toBe(200);
    return (res.body.items as { callId: string }[]).map((c) => c.callId).sort();
  };

  it('filters by agent, line, direction and result', async () => {
    expect(await ids('extension=101')).toEqual(['l-a1', 'l-f1', 'l-o1']);
    expect(await ids('extension=102&direction=inbound')).toEqual(['l-b1', 'l-b2']);
    // The line as people write it: normalized with the tenant's country.
    expect(await ids('line=8%20495%20000-11-22')).toEqual(['l-b1', 'l-b2']);
    expect(await ids(`line=${encodeURIComponent(LINE_A)}`)).toEqual(['l-a1', 'l-f1']);
    expect(await ids('direction=outbound')).toEqual(['l-o1']);
    expect(await ids('result=missed')).toEqual(['l-b2']);
  });

  it('finds every call whose CRM log failed', async () => {
    expect(await ids('action=log&actionStatus=failed')).toEqual(['l-f1']);
    expect(await ids('actionStatus=failed')).toEqual(['l-f1']);
    expect(await ids('action=log&actionStatus=done')).toEqual(['l-a1', 'l-b1', 'l-b2', 'l-o1']);
    const bad = await t.request('GET', `/v1/tenants/${tenant.id}/calls?actionStatus=broken`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('actionStatus');
  });

  it('exports the calls of a period as CSV with the same filters', async () => {
    const res = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/calls/export.csv?since=${encodeURIComponent(at(0))}&until=${encodeURIComponent(at(250))}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toContain('calls.csv');
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'callId,direction,status,result,from,to,extension,answeredBy,startedAt,answeredAt,endedAt,duration,recordingLink,clientCode',
    );
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['l-b2', 'l-b1', 'l-a1']);
    expect(lines[3]).toContain(',inbound,ended,answered,+79161234567,+74957654321,101,101,');
    const missed = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/calls/export.csv?result=missed`,
    );
    expect(missed.text.trimEnd().split('\r\n')).toHaveLength(2);
  });
});
