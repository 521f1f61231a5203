import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { launchChromium } from './support/browser';
import { inboundCall } from './support/call-events';
import {
  CreatedTenant,
  createTenant,
  eventually,
  signedHeaders,
  startTestApp,
  TestApp,
} from './support/test-app';
import { ADMIN_TOKEN } from './support/test-env';

const ROOT = join(__dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');
const ANNA = '+79161234567';
const MSK_OFFSET_MS = 3 * 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Every control of the page that a screen reader could not name. (Scripts that run in the
 * page are strings: this file is compiled without the DOM's types.)
 */
async function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((e) => e.type !== 'hidden')
    .filter((e) => !((e.labels && e.labels.length > 0) || e.getAttribute('aria-label') ||
      e.getAttribute('aria-labelledby') || (e.tagName !== 'INPUT' && e.textContent.trim())))
    .map((e) => e.outerHTML.slice(0, 120))`);
}

async function noSideScroll(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
}

const inPage = <T>(page: Page, script: string): Promise<T> => page.evaluate<T>(script);

describe('web console in a real browser', () => {
  const crm = new RetailcrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;
  let browser: Browser;
  let context: BrowserContext;
  let built: string;
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    // The console as the sources are now, built apart from dist/ (which other suites serve).
    built = mkdtempSync(join(tmpdir(), 'hub-console-'));
    execFileSync(
      join(ROOT, 'node_modules', '.bin', 'vite'),
      ['build', 'console', '--outDir', built, '--emptyOutDir'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    await crm.start();
    crm.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov' });
    crm.addUser({ id: 28, firstName: 'Olga', lastName: 'Orlova' });
    crm.addCustomer({ id: 7, firstName: 'Anna', phones: [ANNA], managerId: 27 });
    t = await startTestApp({ HUB_CONSOLE_DIR: built });
    tenant = await createTenant(t, { name: 'Console shop' });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  }, 120000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await crm.stop();
    rmSync(built, { recursive: true, force: true });
  });

  it('serves the page with a strict policy and long-cached assets', async () => {
    const redirect = await fetch(`${t.url}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/console/');
    const page = await t.request('GET', '/console/', { admin: false });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const asset = await t.request('GET', script as string, { admin: false });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await t.request('GET', '/console/assets/..%2F..%2Fpackage.json')).status).toBe(404);
  });

  it('a tenant admin sets the hub up, watches a call ring live, retries its failed log and reads the statistics', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${t.url}/console/`);

    // Sign in from the keyboard.
    await page.getByLabel('Tenant ID').fill(tenant.id);
    await page.getByLabel('API key', { exact: true }).fill(tenant.apiKey);
    await page.getByLabel('API key', { exact: true }).press('Enter');
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(page.url()).not.toContain(tenant.apiKey);
    expect(await inPage<string>(page, 'JSON.stringify(sessionStorage)')).toContain(tenant.apiKey);
    expect(await inPage<string>(page, 'JSON.stringify(localStorage)')).not.toContain(tenant.apiKey);

    // Integrations: a form generated from RetailCRM's manifest.
    await page.getByRole('link', { name: 'Integrations' }).click();
    await page.getByText('Add an integration').click();
    await page.locator('#connector').selectOption('retailcrm');
    await page.locator('#config-url').fill(crm.url);
    expect(await page.locator('#credentials-apiKey').getAttribute('type')).toBe('password');
    await page.locator('#credentials-apiKey').fill(crm.apiKey);
    expect(await unnamedControls(page)).toEqual([]);
    await shot(page, '2-integration-form');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Integration added.' }).waitFor();
    const card = page.locator('article[data-integration]');
    await card.getByText('connected').waitFor();
    const integrationId = (await card.getAttribute('data-integration')) as string;
    await card.getByRole('button', { name: 'Test connection' }).click();
    await card.getByTestId('test-result').filter({ hasText: 'Connection works.' }).waitFor();
    await eventually(
      async () => crm.modules.has('telephony-hub'),
      (v) => v,
      20000,
    );

    // Agents: rows from the CRM's users; the admin types their extensions.
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('button', { name: 'Fill from retailcrm' }).click();
    await page.getByLabel('Extension 1').fill('101');
    await page.getByLabel('Extension 2').fill('102');
    expect(await page.getByLabel('retailcrm 1').inputValue()).toBe('27');
    expect(await page.getByLabel('retailcrm 2').inputValue()).toBe('28');
    expect(await unnamedControls(page)).toEqual([]);
    await shot(page, '3-agents');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Agent map saved: 2 agent(s).').waitFor();
    const agents = await t.request('GET', `/v1/tenants/${tenant.id}/agents`);
    expect(agents.body).toEqual([
      { extension: '101', name: 'Ivan Petrov', crmUsers: { [integrationId]: '27' } },
      { extension: '102', name: 'Olga Orlova', crmUsers: { [integrationId]: '28' } },
    ]);

    // PBX sources: a generic source; its webhook address and secret are what the PBX uses.
    await page.getByRole('link', { name: 'PBX sources' }).click();
    await page.getByText('Add a PBX source').click();
    await page.locator('#pbx-type').selectOption('generic');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const source = page.locator('article[data-source]');
    await source.getByTestId('webhook-url').waitFor();
    const webhookUrl = await source.getByTestId('webhook-url').inputValue();
    const secret = await source.getByTestId('webhook-secret').inputValue();
    expect(webhookUrl).toBe(`${t.config.publicUrl}/v1/pbx/${tenant.id}/events`);
    expect(await source.getByTestId('webhook-secret').getAttribute('type')).toBe('password');
    expect(await unnamedControls(page)).toEqual([]);
    await shot(page, '4-pbx-sources');
    const pbxPath = new URL(webhookUrl).pathname;
    const send = async (events: Record<string, unknown>[]) => {
      const raw = JSON.stringify({ events });
      const res = await t.request('POST', pbxPath, {
        rawBody: raw,
        headers: signedHeaders(secret, raw),
      });
      expect(res.status).toBe(202);
    };

    // Calls: a call appears while it rings, and changes in place as it ends.
    await page.getByRole('link', { name: 'Calls' }).click();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    const startedAt = Date.now() - 75_000;
    const live = inboundCall('c-live', ANNA, { ring: ['101'], answeredBy: '101', startedAt });
    await send(live.start);
    const row = page.locator('tr[data-call-id="c-live"]');
    await row.waitFor({ timeout: 10000 });
    await send(live.end);
    await row.getByText('answered').waitFor({ timeout: 10000 });
    expect(await row.textContent()).toContain('1:00');
    await shot(page, '5-calls');
    await eventually(
      async () =>
        (await t.request('GET', `/v1/tenants/${tenant.id}/calls/c-live`)).body.integrations?.[0]
          ?.actions?.log?.status,
      (s) => s === 'done',
      15000,
    );

    // A call whose log the CRM refuses: opened, its error read, retried once.
    crm.failNext(1, { status: 400, body: { success: false, errorMsg: 'Calls are not uploaded' } });
    const ev = { callId: 'c-fail', direction: 'inbound', from: ANNA, to: '+74957654321' };
    await send([
      { ...ev, id: 'f1', type: 'call.answered', extension: '101', at: iso(startedAt + 9000) },
      {
        ...ev,
        id: 'f2',
        type: 'call.ended',
        result: 'answered',
        duration: 60,
        at: iso(startedAt + 69000),
      },
    ]);
    await page.locator('tr[data-call-id="c-fail"]').waitFor({ timeout: 10000 });
    await page.getByRole('link', { name: 'Open call c-fail' }).click();
    const log = page.locator('tr[data-action="log"]');
    await log.getByText('failed').waitFor({ timeout: 15000 });
    expect(await log.textContent()).toContain('Calls are not uploaded');
    expect(crm.uploadedCalls.has('c-fail')).toBe(false);
    expect(await unnamedControls(page)).toEqual([]);
    await shot(page, '6-call-failed');
    await page.getByRole('button', { name: 'Retry failed actions' }).click();
    await page.getByText('1 action(s) queued again.').waitFor();
    await log.getByText('done').waitFor({ timeout: 15000 });
    expect(crm.uploadArrivals.get('c-fail')).toBe(1);
    expect(await page.getByRole('button', { name: 'Retry failed actions' }).count()).toBe(0);
    await shot(page, '7-call-retried');

    // Statistics: both calls answered by Ivan.
    await page.getByRole('link', { name: 'Statistics' }).click();
    const ivan = page.locator('table[data-testid="stats"] tr[data-key="101"]');
    await ivan.waitFor();
    const cell = (r: typeof ivan, column: string) => r.locator(`td[data-column="${column}"]`);
    expect(await cell(ivan, 'inbound').textContent()).toBe('2');
    expect(await cell(ivan, 'answered').textContent()).toBe('2');
    expect(await cell(ivan, 'missed').textContent()).toBe('0');
    expect(await cell(ivan, 'answerRate').textContent()).toBe('100%');
    // c-live waited 10 s; c-fail's first event was its answer (0 s).
    expect(await cell(ivan, 'avgWaitS').textContent()).toBe('0:05');
    expect(await cell(ivan, 'talkS').textContent()).toBe('2:00');
    expect(await ivan.locator('th').textContent()).toBe('Ivan Petrov (101)');
    expect(await page.locator('figure.chart canvas').count()).toBe(1);
    await shot(page, '8-statistics');
    await page.locator('#s-group').selectOption('hour');
    const totals = page.locator('table[data-testid="stats"] tr[data-key="totals"]');
    await page.locator('table[data-testid="stats"] th', { hasText: 'Hour' }).waitFor();
    expect(await cell(totals, 'answered').textContent()).toBe('2');

    // Overview: today's figures in the tenant's day, and the integration's state.
    const todayStart = Math.floor((Date.now() + MSK_OFFSET_MS) / 86_400_000) * 86_400_000;
    const today = startedAt + MSK_OFFSET_MS >= todayStart ? 2 : 0;
    await page.getByRole('link', { name: 'Overview' }).click();
    const tiles = page.getByTestId('today');
    await tiles.waitFor();
    expect(await tiles.locator('article').first().textContent()).toBe(`${today}Calls`);
    expect(await page.locator('section', { hasText: 'Integrations' }).textContent()).toContain(
      'connected',
    );
    await shot(page, '1-overview');

    // A phone's width: nothing scrolls sideways but the tables inside their frames.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [link, name] of [
      ['Overview', 'phone-overview'],
      ['Calls', 'phone-calls'],
      ['Statistics', 'phone-statistics'],
    ] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1, name: link }).waitFor();
      await page.waitForLoadState('networkidle').catch(() => undefined);
      expect(await noSideScroll(page)).toBe(true);
      await shot(page, name);
    }
    expect(errors).toEqual([]);
    await page.close();
  }, 120000);

  it('an operator signs in with the admin token, picks a tenant and reads it in Russian', async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${t.url}/console/`);
    await page.getByLabel('Admin token').check();
    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: 'Queue dashboard' }).getAttribute('href')).toBe(
      '/admin/queues',
    );
    await page.getByRole('button', { name: 'Open Console shop' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(await page.locator('header').textContent()).toContain('Console shop');
    expect(page.url()).not.toContain(ADMIN_TOKEN);

    await page.getByLabel('Language').first().selectOption('ru');
    await page.getByRole('heading', { name: 'Обзор', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Звонки' }).click();
    await page.getByRole('heading', { name: 'Звонки', level: 1 }).waitFor();
    expect(await inPage<string>(page, 'document.documentElement.lang')).toBe('ru');
    await shot(page, '9-calls-ru');

    await page.getByRole('button', { name: 'Выйти' }).click();
    await page.getByRole('heading', { name: 'Вход' }).waitFor();
    expect(await inPage<number>(page, 'sessionStorage.length')).toBe(0);
    await page.close();
  }, 60000);
});
