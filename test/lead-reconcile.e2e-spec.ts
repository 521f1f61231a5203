import { leadMarker } from '../connectors/retailcrm/retailcrm.mapper';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { CallSyncRepository } from '../src/integrations/sync/call-sync.repository';
import { CrmDispatcher } from '../src/integrations/sync/crm-dispatcher.service';
import { CrmSweeper } from '../src/integrations/sync/crm-sweeper.service';
import { connectRetailcrm } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const TASK_CREATE = '/api/v5/tasks/create';
const TASK_LIST = '/api/v5/tasks';

/**
 * A lead is a create without an idempotency key in RetailCRM (tasks): whether an attempt that
 * did not finish reached the CRM decides between "create" and "find the earlier one". These
 * cases set up each way an attempt can end unfinished, against the real ledger and sandbox.
 */
describe('leads: an unfinished attempt is reconciled with the CRM, never dropped or doubled', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;
  let n = 0;

  beforeAll(async () => {
    await sandbox.start();
    // Claims lapse quickly, so a "dead worker" is simulated by a claim in the past.
    t = await startTestApp({ HUB_CRM_CLAIM_S: '2' });
    tenant = await createTenant(t, { name: 'Reconcile' });
    await connectRetailcrm(t, tenant.id, sandbox);
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  });
  afterEach(() => sandbox.clearFaults());

  function missedCall(): { callId: string; phone: string; events: object[] } {
    n++;
    const callId = `rc-${n}`;
    const phone = `+7999111${String(n).padStart(4, '0')}`;
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    return {
      callId,
      phone,
      events: [
        {
          id: `${callId}-s`,
          callId,
          type: 'call.started',
          direction: 'inbound',
          from: phone,
          to: '+74957654321',
          at: at(0),
        },
        { id: `${callId}-r`, callId, type: 'call.ringing', extension: '101', at: at(1) },
        { id: `${callId}-e`, callId, type: 'call.ended', result: 'missed', at: at(20) },
      ],
    };
  }

  const tasksFor = (phone: string) =>
    sandbox.tasks.filter((task) => String(task.phone ?? '').includes(phone.slice(1)));
  const requestsTo = (path: string, since: number) =>
    sandbox.requests.slice(since).filter((r) => r.path === path).length;

  async function leadOf(callId: string): Promise<{ status: string; lastError: string | null }> {
    const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
    return res.body?.integrations?.[0]?.actions?.lead ?? { status: 'none', lastError: null };
  }

  it('finds the task whose reply was lost instead of creating a second one', async () => {
    const call = missedCall();
    const before = sandbox.requests.length;
    sandbox.loseReplyNext(1, TASK_CREATE);
    expect((await postEvents(t, tenant, { events: call.events })).status).toBe(202);

    const lead = await eventually(
      () => leadOf(call.callId),
      (l) => l.status === 'done',
      20000,
    );
    expect(lead.status).toBe('done');
    expect(tasksFor(call.phone)).toHaveLength(1);
    // The first create reached the CRM; the second attempt looked it up and did not create.
    expect(requestsTo(TASK_CREATE, before)).toBe(1);
    expect(requestsTo(TASK_LIST, before)).toBeGreaterThanOrEqual(1);
  }, 30000);

  it('creates a lead whose worker died before its request left, without a lookup', async () => {
    const call = missedCall();
    const repo = t.app.get(CallSyncRepository);
    const dispatcher = t.app.get(CrmDispatcher);
    // Hold every create, so the row can be set up as a worker that died waiting for its slot.
    sandbox.setOutage(60_000, 503);
    expect((await postEvents(t, tenant, { events: call.events })).status).toBe(202);
    const row = await eventually(
      () => leadRow(call.callId),
      (r) => r !== null && r.attempts > 0 && r.claimed_until === null,
      20000,
    );
    // Its attempts failed on reads (the caller's lookup): nothing that creates left the hub.
    expect(row!.sent_at).toBeNull();
    // As a worker leaves it when it dies before sending (waiting for a rate-limit slot, say).
    await t.db.query(
      'UPDATE call_sync SET claimed_until = NOW(3) - INTERVAL 1 SECOND, not_before = NULL WHERE id = ?',
      [row!.id],
    );
    sandbox.clearFaults();
    const before = sandbox.requests.length;
    await dispatcher.run(row!.id).catch(() => undefined);

    const after = await repo.load(row!.id);
    expect(after?.sync.status).toBe('done');
    expect(tasksFor(call.phone)).toHaveLength(1);
    expect(requestsTo(TASK_LIST, before)).toBe(0);
  }, 30000);

  it('finds the task of a worker that died after its create reached the CRM', async () => {
    const call = missedCall();
    const repo = t.app.get(CallSyncRepository);
    const dispatcher = t.app.get(CrmDispatcher);
    sandbox.setOutage(60_000, 503);
    expect((await postEvents(t, tenant, { events: call.events })).status).toBe(202);
    const row = await eventually(
      () => leadRow(call.callId),
      (r) => r !== null && r.attempts > 0 && r.claimed_until === null,
      20000,
    );
    // The CRM created it, and the worker died before the reply: claimed, sent, not finished.
    sandbox.clearFaults();
    const created = await fetch(`${sandbox.url}${TASK_CREATE}`, {
      method: 'POST',
      headers: { 'x-api-key': sandbox.apiKey, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        task: JSON.stringify({
          text: `Missed call ${call.phone} (${leadMarker(`${call.callId}:lead`)})`,
          phone: call.phone,
        }),
      }),
    });
    expect(created.status).toBe(201);
    await t.db.query(
      `UPDATE call_sync SET sent_at = NOW(3), claimed_until = NOW(3) - INTERVAL 1 SECOND,
         not_before = NULL WHERE id = ?`,
      [row!.id],
    );
    const before = sandbox.requests.length;
    await dispatcher.run(row!.id).catch(() => undefined);

    expect((await repo.load(row!.id))?.sync.status).toBe('done');
    expect(tasksFor(call.phone)).toHaveLength(1);
    expect(requestsTo(TASK_CREATE, before)).toBe(0);
  }, 30000);

  it('registers again an install whose job was lost (Redis lost its data)', async () => {
    const integrationId = (await t.request('GET', `/v1/tenants/${tenant.id}/integrations`)).body[0]
      .id as string;
    const [before] = (await t.db.query('SELECT install_due_at FROM integrations WHERE id = ?', [
      integrationId,
    ])) as { install_due_at: Date | null }[];
    // The first install is done: nothing is due.
    expect(before.install_due_at).toBeNull();
    // An install was asked for and its job vanished with Redis: only the row remembers it.
    sandbox.modules.clear();
    await t.db.query(
      'UPDATE integrations SET install_due_at = NOW(3) - INTERVAL 2 MINUTE WHERE id = ?',
      [integrationId],
    );
    expect(await t.app.get(CrmSweeper).sweep()).toBeGreaterThanOrEqual(1);
    await eventually(
      async () => sandbox.modules.has('telephony-hub'),
      (v) => v,
      10000,
    );
    const [after] = (await t.db.query('SELECT install_due_at FROM integrations WHERE id = ?', [
      integrationId,
    ])) as { install_due_at: Date | null }[];
    expect(sandbox.modules.has('telephony-hub')).toBe(true);
    expect(after.install_due_at).toBeNull();
  });

  async function leadRow(callId: string) {
    const rows = (await t.db.query(
      `SELECT s.id, s.attempts, s.claimed_until, s.sent_at, s.status FROM call_sync s
         JOIN calls c ON c.id = s.call_pk WHERE c.tenant_id = ? AND c.call_id = ? AND s.action = 'lead'`,
      [tenant.id, callId],
    )) as {
      id: string;
      attempts: number;
      claimed_until: Date | null;
      sent_at: Date | null;
      status: string;
    }[];
    return rows[0] ? { ...rows[0], id: String(rows[0].id) } : null;
  }
});
