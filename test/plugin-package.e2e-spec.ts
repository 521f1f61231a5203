import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTenant, startTestApp, TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * An npm install as an operator would have it: the hub package (its package.json with the
 * exports map, and its built SDK) and a connector plugin side by side in node_modules.
 */
function installPlugin(): { dir: string; plugin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hub-plugin-'));
  const modules = join(dir, 'node_modules');
  const hub = join(modules, 'telephony-crm-hub');
  mkdirSync(hub, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(hub, 'package.json'));
  const tsconfig = join(dir, 'tsconfig.sdk.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.build.json'),
      compilerOptions: {
        outDir: join(hub, 'dist'),
        rootDir: ROOT,
        sourceMap: false,
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      include: [join(ROOT, 'src', 'connector-sdk')],
      exclude: [join(ROOT, 'src', 'connector-sdk', '**', '*.spec.ts')],
    }),
  );
  const built = spawnSync(process.execPath, [TSC, '-p', tsconfig], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (built.status !== 0) throw new Error(`SDK build failed: ${built.stdout}${built.stderr}`);
  for (const peer of ['class-validator', 'class-transformer', 'axios', 'libphonenumber-js']) {
    symlinkSync(join(ROOT, 'node_modules', peer), join(modules, peer), 'dir');
  }
  const plugin = join(modules, 'hub-plugin-echo');
  cpSync(join(__dirname, 'fixtures', 'plugin-package'), plugin, { recursive: true });
  return { dir, plugin };
}

describe('a connector published as an npm package', () => {
  let install: { dir: string; plugin: string };
  let t: TestApp;

  beforeAll(async () => {
    install = installPlugin();
    t = await startTestApp({ HUB_CONNECTOR_PLUGINS: install.plugin });
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    if (install) rmSync(install.dir, { recursive: true, force: true });
  });

  it('loads through telephony-crm-hub/connector-sdk and shows its manifest', async () => {
    const res = await t.request('GET', '/v1/connectors', { admin: false });
    expect(res.body).toContainEqual({
      id: 'echo-crm',
      displayName: 'Echo CRM',
      version: '1.0.0',
      capabilities: ['contactLookup'],
      rateLimits: [{ name: 'default', requestsPerSecond: 5 }],
      auth: 'apiKey',
      config: [
        { name: 'url', description: 'Base URL of the Echo CRM', required: true, secret: false },
      ],
      credentials: [{ name: 'token', description: 'Echo API token', required: true, secret: true }],
    });
  });

  it('is validated by its own schemas and checks credentials live', async () => {
    const tenant = await createTenant(t);
    const create = (url: string, token: string) =>
      t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body: { connector: 'echo-crm', config: { url }, credentials: { token } },
      });
    const bad = await create('not a url', 'x');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('config.url');
    const refused = await create('http://echo.local', 'x');
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('credentials.token');
    const ok = await create('http://echo.local', 'echo-token');
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ connector: 'echo-crm', status: 'connected' });
  });
});
