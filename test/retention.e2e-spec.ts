import { createConnection } from 'mysql2/promise';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../src/bootstrap';
import { loadConfig } from '../src/config/config';
import { sqlTime } from '../src/common/sql';
import { RETENTION_LOCK, RetentionService } from '../src/retention/retention.service';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';
import { connectPluginCrm, PLUGIN_CONNECTOR } from './support/plugin-crm';
import { testEnv } from './support/test-env';

const DAY = 86_400_000;
const RETENTION_DAYS = 30;

const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

/** The calls of the test, by what should become of them with a 30-day retention. */
const CALLS = {
  // Ended 40 days ago: purged.
  endedLongAgo: { start: 40, end: 40 },
  // Started 45 days ago but ended 20 days ago: the end counts, kept.
  endedRecently: { start: 45, end: 20 },
  // Ended 10 days ago: kept.
  recent: { start: 10, end: 10 },
  // Never ended, started 32 days ago (more than the period and a day): purged.
  openLongAgo: { start: 32, end: null },
  // Never ended, started 30.5 days ago (within the period's extra day): kept.
  openWithinGrace: { start: 30.5, end: null },
} as const;
type CallName = keyof typeof CALLS;

describe('data retention (HUB_RETENTION_DAYS)', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;
  const env = testEnv({
    HUB_CONNECTOR_PLUGINS: PLUGIN_CONNECTOR,
    HUB_RETENTION_DAYS: String(RETENTION_DAYS),
    HUB_RETENTION_INTERVAL_S: '3600',
  });

  async function callIds(): Promise<string[]> {
    const rows = (await t.db.query(
      'SELECT call_id FROM calls WHERE tenant_id = ? ORDER BY call_id',
      [tenant.id],
    )) as { call_id: string }[];
    return rows.map((r) => r.call_id);
  }

  async function countFor(table: string, where: string, params: unknown[]): Promise<number> {
    const [{ n }] = await t.db.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
    return Number(n);
  }

  beforeAll(async () => {
    t = await startTestApp(env);
    tenant = await createTenant(t);
    integrationId = await connectPluginCrm(t, tenant.id);

    // The calls through the PBX ingress, as a PBX reports them (two events each, or one).
    const events = Object.entries(CALLS).flatMap(([name, c]) => [
      {
        id: `${name}-ring`,
        callId: name,
        type: 'call.ringing',
        direction: 'inbound',
        from: '84951234567',
        to: '+74957654321',
        extension: '101',
        at: ago(c.start),
      },
      ...(c.end === null
        ? []
        : [
            {
              id: `${name}-end`,
              callId: name,
              type: 'call.ended',
              result: 'answered',
              duration: 60,
              at: ago(c.end),
            },
          ]),
    ]);
    expect((await postEvents(t, tenant, { events })).status).toBe(202);
    await eventually(callIds, (ids) => ids.length === Object.keys(CALLS).length);
    await eventually(
      () => countFor('call_events', 'tenant_id = ? AND processed_at IS NULL', [tenant.id]),
      (n) => n === 0,
    );

    // What hangs off each call: a CRM action record and connector state.
    const calls = (await t.db.query('SELECT id FROM calls WHERE tenant_id = ?', [tenant.id])) as {
      id: string;
    }[];
    for (const { id } of calls) {
      for (const action of ['pop', 'log']) {
        await t.db.query(
          `INSERT INTO call_sync (call_pk, integration_id, action, status) VALUES (?, ?, ?, 'done')`,
          [id, integrationId, action],
        );
      }
      await t.db.query(
        `INSERT INTO connector_call_state (call_pk, integration_id, state_key, value) VALUES (?, ?, 'crmCallId', '"x"')`,
        [id, integrationId],
      );
    }
    // Events of a call that never came to be (they failed and were set aside), old and recent.
    for (const [id, days] of [
      ['orphan-old', 40],
      ['orphan-recent', 5],
    ] as const) {
      await t.db.query(
        `INSERT INTO call_events (tenant_id, event_id, call_id, type, occurred_at, payload, received_at, failed_at, fail_count)
         VALUES (?, ?, ?, 'call.started', ?, '{}', ?, ?, 5)`,
        [tenant.id, id, id, sqlTime(ago(days)), sqlTime(ago(days)), sqlTime(ago(days))],
      );
    }
    // Audit records of privacy mode, old and recent.
    for (const [reason, days] of [
      ['old', 31],
      ['recent', 29],
    ] as const) {
      await t.db.query(
        `INSERT INTO audit_log (tenant_id, at, action, extension, client_code, granted, reason)
         VALUES (?, ?, 'resolve', '101', '482913', 1, ?)`,
        [tenant.id, sqlTime(ago(days)), reason],
      );
    }
  }, 60_000);
  afterAll(() => t.close());

  it('purges exactly the calls past the period, with all that hangs off them, and old audit records', async () => {
    const purged: CallName[] = ['endedLongAgo', 'openLongAgo'];
    const kept = (Object.keys(CALLS) as CallName[]).filter((n) => !purged.includes(n));
    const keptPks = (await t.db.query(
      'SELECT id FROM calls WHERE tenant_id = ? AND call_id IN (?)',
      [tenant.id, kept],
    )) as { id: string }[];

    const result = await t.app.get(RetentionService).purge();

    expect(result).toEqual({
      cutoff: expect.any(String),
      tenantDeletionsFinished: 0,
      purged: {
        calls: 2,
        // endedLongAgo's two events, openLongAgo's one, the old set-aside one.
        call_events: 4,
        call_sync: 4,
        connector_call_state: 2,
        audit_log: 1,
      },
    });
    expect(
      Math.abs(Date.parse(result!.cutoff!) - (Date.now() - RETENTION_DAYS * DAY)),
    ).toBeLessThan(60_000);
    expect(await callIds()).toEqual([...kept].sort());
    for (const name of purged) {
      expect(
        await countFor('call_events', 'tenant_id = ? AND call_id = ?', [tenant.id, name]),
      ).toBe(0);
    }
    for (const name of kept) {
      const n = await countFor('call_events', 'tenant_id = ? AND call_id = ?', [tenant.id, name]);
      expect({ name, n }).toEqual({ name, n: CALLS[name].end === null ? 1 : 2 });
    }
    const pks = keptPks.map((r) => r.id);
    expect(await countFor('call_sync', 'integration_id = ?', [integrationId])).toBe(
      2 * kept.length,
    );
    expect(await countFor('call_sync', 'call_pk IN (?)', [pks])).toBe(2 * kept.length);
    expect(await countFor('connector_call_state', 'call_pk IN (?)', [pks])).toBe(kept.length);
    expect(await countFor('connector_call_state', 'integration_id = ?', [integrationId])).toBe(
      kept.length,
    );
    expect(await countFor('call_events', 'call_id LIKE ?', ['orphan-%'])).toBe(1);
    const audit = (await t.db.query('SELECT reason FROM audit_log WHERE tenant_id = ?', [
      tenant.id,
    ])) as { reason: string }[];
    expect(audit.map((r) => r.reason)).toEqual(['recent']);
    // The API agrees: the purged call is gone, a kept one is whole.
    const gone = await t.request('GET', `/v1/tenants/${tenant.id}/calls/endedLongAgo`);
    expect(gone.status).toBe(404);
    const whole = await t.request('GET', `/v1/tenants/${tenant.id}/calls/endedRecently`);
    expect(whole.status).toBe(200);
    expect(whole.body.events).toHaveLength(2);

    const metrics = await t.request('GET', '/metrics', { admin: false });
    for (const [kind, n] of Object.entries(result!.purged)) {
      expect(metrics.text).toContain(`hub_retention_purged_total{kind="${kind}"} ${n}`);
    }
  });

  it('finds nothing more to purge on the next run', async () => {
    const result = await t.app.get(RetentionService).purge();
    expect(result?.purged).toEqual({
      calls: 0,
      call_events: 0,
      call_sync: 0,
      connector_call_state: 0,
      audit_log: 0,
    });
    expect(await callIds()).toHaveLength(3);
  });

  it('skips a run while another instance holds the lock', async () => {
    const database = new URL(t.config.databaseUrl).pathname.slice(1);
    const other = await createConnection({ uri: t.config.databaseUrl });
    try {
      const [[{ got }]] = (await other.query('SELECT GET_LOCK(?, 0) AS got', [
        `${RETENTION_LOCK}${database.slice(0, 48)}`,
      ])) as unknown as [{ got: number }[]];
      expect(Number(got)).toBe(1);
      await t.db.query(
        `INSERT INTO audit_log (tenant_id, at, action, granted, reason) VALUES (?, ?, 'resolve', 0, 'locked')`,
        [tenant.id, sqlTime(ago(60))],
      );
      expect(await t.app.get(RetentionService).purge()).toBeNull();
      expect(await countFor('audit_log', 'reason = ?', ['locked'])).toBe(1);
      await other.query('SELECT RELEASE_LOCK(?)', [`${RETENTION_LOCK}${database.slice(0, 48)}`]);
      expect((await t.app.get(RetentionService).purge())?.purged.audit_log).toBe(1);
      expect(await countFor('audit_log', 'reason = ?', ['locked'])).toBe(0);
    } finally {
      await other.end();
    }
  });

  it('runs at boot: another instance starting on the database purges without being asked', async () => {
    await t.db.query(
      `INSERT INTO audit_log (tenant_id, at, action, granted, reason) VALUES (?, ?, 'resolve', 0, 'boot')`,
      [tenant.id, sqlTime(ago(90))],
    );
    let second: NestFastifyApplication | undefined;
    try {
      second = await createApp(loadConfig(env));
      await second.init();
      const left = await eventually(
        () => countFor('audit_log', 'reason = ?', ['boot']),
        (n) => n === 0,
      );
      expect(left).toBe(0);
    } finally {
      await second?.close();
    }
  });
});
