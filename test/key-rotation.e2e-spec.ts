import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../src/bootstrap';
import { Clock } from '../src/common/clock';
import { SecretBox } from '../src/common/secret-box';
import { AppConfig, loadConfig } from '../src/config/config';
import { dataSourceOptions } from '../src/database/database';
import { rotateSecrets, SEALED_COLUMNS } from '../src/database/key-rotation';
import { OAuthState } from '../src/integrations/runtime/oauth-state';
import { RecordingLinks } from '../src/recordings/recording-links.service';
import {
  CreatedTenant,
  createTenant,
  httpRequest,
  signedHeaders,
  startTestApp,
  TestApp,
} from './support/test-app';
import { connectPluginCrm, PLUGIN_CONNECTOR } from './support/plugin-crm';
import { ADMIN_TOKEN, dropTestResources, ENCRYPTION_KEY, testEnv } from './support/test-env';

const ROOT = join(__dirname, '..');
const KEY_A = Buffer.from(ENCRYPTION_KEY, 'base64');
const KEY_B = randomBytes(32);
const NEW_ADMIN_TOKEN = 'rotated-admin-token-0123456789abcdef';

/** Runs `keys:rotate`'s code (src/database/rotate-keys.cli.ts) as its own process. */
function runCli(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  // A directory without a .env, so only `env` configures it.
  const cwd = mkdtempSync(join(tmpdir(), 'hub-keys-'));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        require.resolve('ts-node/register/transpile-only'),
        join(ROOT, 'src', 'database', 'rotate-keys.cli.ts'),
      ],
      {
        cwd,
        env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}

describe('rotating HUB_ENCRYPTION_KEY and HUB_ADMIN_TOKEN', () => {
  const env = testEnv({ HUB_CONNECTOR_PLUGINS: PLUGIN_CONNECTOR });
  const envB = { ...env, HUB_ENCRYPTION_KEY: KEY_B.toString('base64') };
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;
  let sourceId: string;
  let recordingToken: string;
  let oauthState: string;
  let db: DataSource;
  let appB: NestFastifyApplication | undefined;
  const tokens = { accessToken: 'access-1', refreshToken: 'refresh-1' };

  /** Every sealed value in the database, with its row's context. */
  async function sealedValues(): Promise<{ name: string; value: string; context: string }[]> {
    const out = [];
    for (const s of SEALED_COLUMNS) {
      const rows = (await db.query(
        `SELECT id, \`${s.column}\` AS value FROM \`${s.table}\` WHERE \`${s.column}\` IS NOT NULL`,
      )) as { id: string; value: string }[];
      for (const r of rows) {
        out.push({
          name: `${s.table}.${s.column}:${r.id}`,
          value: r.value,
          context: s.context(r.id),
        });
      }
    }
    return out;
  }

  beforeAll(async () => {
    // Key A: everything is sealed with it.
    t = await startTestApp(env);
    tenant = await createTenant(t);
    integrationId = await connectPluginCrm(t, tenant.id);
    // OAuth tokens are stored by the token vault after a grant; here the row gets them directly.
    await t.db.query('UPDATE integrations SET tokens_enc = ? WHERE id = ?', [
      new SecretBox(KEY_A).sealJson(tokens, `integration:${integrationId}:tokens`),
      integrationId,
    ]);
    const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'zadarma', config: {}, credentials: { key: 'k1', secret: 'zd-secret' } },
    });
    expect(source.status).toBe(201);
    sourceId = source.body.id;
    recordingToken = t.app
      .get(RecordingLinks)
      .link({ tenantId: tenant.id, callId: 'c-1' })
      .replace(/^.*\/v1\/recordings\//, '');
    oauthState = t.app.get(OAuthState).sign(integrationId);
    await t.app.close();
    db = new DataSource(dataSourceOptions(t.config.databaseUrl));
    await db.initialize();
  }, 60_000);

  afterAll(async () => {
    await appB?.close();
    await db?.destroy();
    await dropTestResources(t.config);
  });

  it('re-encrypts every stored secret with the new key, opening the old ones with the previous key', async () => {
    const before = await sealedValues();
    expect(before.map((v) => v.name.split(':')[0]).sort()).toEqual([
      'integrations.credentials_enc',
      'integrations.tokens_enc',
      'pbx_sources.credentials_enc',
      'tenants.webhook_secret_enc',
    ]);
    // Key B alone cannot read them yet.
    for (const v of before) expect(() => new SecretBox(KEY_B).open(v.value, v.context)).toThrow();
    const stamps = await db.query(
      `SELECT 'tenants' AS t, id, updated_at FROM tenants UNION ALL
       SELECT 'integrations', id, updated_at FROM integrations UNION ALL
       SELECT 'pbx_sources', id, updated_at FROM pbx_sources ORDER BY t, id`,
    );

    const report = await rotateSecrets(db, new SecretBox(KEY_B, KEY_A));

    expect(report).toEqual({
      unknownColumns: [],
      columns: SEALED_COLUMNS.map((s) => ({
        table: s.table,
        column: s.column,
        rotated: 1,
        current: 0,
        unreadable: [],
      })),
    });
    const after = await sealedValues();
    const plain = (v: { value: string; context: string }) =>
      new SecretBox(KEY_B).open(v.value, v.context);
    const byName = Object.fromEntries(after.map((v) => [v.name.split(':')[0], plain(v)]));
    expect(byName).toEqual({
      'tenants.webhook_secret_enc': tenant.webhookSecret,
      'integrations.credentials_enc': JSON.stringify({ token: 'good-token' }),
      'integrations.tokens_enc': JSON.stringify(tokens),
      'pbx_sources.credentials_enc': JSON.stringify({ key: 'k1', secret: 'zd-secret' }),
    });
    for (const v of after) expect(() => new SecretBox(KEY_A).open(v.value, v.context)).toThrow();
    // Sealed again, so no longer the same bytes; the rows' timestamps did not move.
    const afterValues = new Set(after.map((v) => v.value));
    expect(before.filter((v) => afterValues.has(v.value))).toEqual([]);
    expect(
      await db.query(
        `SELECT 'tenants' AS t, id, updated_at FROM tenants UNION ALL
         SELECT 'integrations', id, updated_at FROM integrations UNION ALL
         SELECT 'pbx_sources', id, updated_at FROM pbx_sources ORDER BY t, id`,
      ),
    ).toEqual(stamps);
  });

  it('changes nothing when run again (npm run keys:rotate), and prints the counts', async () => {
    const before = await sealedValues();
    const run = await runCli({
      ...envB,
      HUB_ENCRYPTION_KEY_PREVIOUS: ENCRYPTION_KEY,
      LOG_LEVEL: 'silent',
    });
    expect(run.out).toContain(
      'tenants.webhook_secret_enc: 0 re-encrypted, 1 already current, 0 unreadable',
    );
    expect(run.out).toContain(
      'pbx_sources.credentials_enc: 0 re-encrypted, 1 already current, 0 unreadable',
    );
    expect(run.out).toContain('total: 0 re-encrypted, 4 already current, 0 unreadable');
    expect(run.code).toBe(0);
    expect(await sealedValues()).toEqual(before);
  }, 60_000);

  it('names a secret that opens with neither key, exits 1, and never prints a value', async () => {
    const id = randomUUID();
    await db.query(
      `INSERT INTO pbx_sources (id, tenant_id, type, config, credentials_enc, status) VALUES (?, ?, 'zadarma', '{}', ?, 'active')`,
      [
        id,
        tenant.id,
        new SecretBox(randomBytes(32)).sealJson(
          { key: 'k2', secret: 'lost-secret' },
          `pbx-source:${id}:credentials`,
        ),
      ],
    );
    try {
      const run = await runCli({ ...envB, HUB_ENCRYPTION_KEY_PREVIOUS: ENCRYPTION_KEY });
      expect(run.out).toContain(
        `pbx_sources.credentials_enc: 0 re-encrypted, 1 already current, 1 unreadable (ids: ${id})`,
      );
      expect(run.out).toContain('keep HUB_ENCRYPTION_KEY_PREVIOUS set');
      expect(run.out).not.toContain('lost-secret');
      expect(run.code).toBe(1);
    } finally {
      await db.query('DELETE FROM pbx_sources WHERE id = ?', [id]);
    }
  }, 60_000);

  it('serves everything with the new key alone, and takes the old admin token during its rollover', async () => {
    const config = loadConfig({
      ...envB,
      HUB_ADMIN_TOKEN: NEW_ADMIN_TOKEN,
      HUB_ADMIN_TOKEN_PREVIOUS: ADMIN_TOKEN,
    });
    expect(config.encryptionKeyPrevious).toBeNull();
    appB = await createApp(config);
    await appB.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(appB.getHttpServer().address() as { port: number }).port}`;
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

    // The webhook secret: a signed event is accepted.
    const raw = JSON.stringify({
      id: 'rot-1',
      callId: 'rot-call',
      type: 'call.started',
      direction: 'inbound',
      from: '84951234567',
      at: new Date().toISOString(),
    });
    const signed = await httpRequest(url, 'POST', `/v1/pbx/${tenant.id}/events`, {
      rawBody: raw,
      headers: signedHeaders(tenant.webhookSecret, raw),
    });
    expect(signed.status).toBe(202);
    // Integration and PBX source credentials: a change re-validates the stored ones.
    const integration = await httpRequest(
      url,
      'PATCH',
      `/v1/tenants/${tenant.id}/integrations/${integrationId}`,
      {
        body: { settings: { logCalls: false } },
        headers: { 'x-api-key': tenant.apiKey },
      },
    );
    expect(integration.status).toBe(200);
    const source = await httpRequest(
      url,
      'PATCH',
      `/v1/tenants/${tenant.id}/pbx-sources/${sourceId}`,
      {
        body: { config: { recordsAllCalls: true } },
        headers: { 'x-api-key': tenant.apiKey },
      },
    );
    expect(source.status).toBe(200);

    // Both admin tokens during the rollover, on the API and the queue dashboard; no other.
    expect((await httpRequest(url, 'GET', '/v1/tenants', as(NEW_ADMIN_TOKEN))).status).toBe(200);
    expect((await httpRequest(url, 'GET', '/v1/tenants', as(ADMIN_TOKEN))).status).toBe(200);
    expect((await httpRequest(url, 'GET', '/v1/tenants', as(`${ADMIN_TOKEN}x`))).status).toBe(401);
    const board = await fetch(`${url}/admin/queues`, { ...as(ADMIN_TOKEN), redirect: 'manual' });
    expect(board.status).toBe(302);
    const refused = await fetch(`${url}/admin/queues`, {
      ...as(`${ADMIN_TOKEN}x`),
      redirect: 'manual',
    });
    expect(refused.status).toBe(401);
  }, 60_000);

  it('keeps recording links and OAuth states signed with the old key valid while it is the previous key', () => {
    const clock = new Clock();
    const base = loadConfig(envB);
    const rotating: AppConfig = { ...base, encryptionKeyPrevious: KEY_A };
    expect(new RecordingLinks(rotating, clock).verify(recordingToken)).toEqual({
      tenantId: tenant.id,
      callId: 'c-1',
    });
    expect(new RecordingLinks(base, clock).verify(recordingToken)).toBeNull();
    expect(new OAuthState(rotating, clock).verify(oauthState)).toBe(integrationId);
    expect(new OAuthState(base, clock).verify(oauthState)).toBeNull();
  });
});
