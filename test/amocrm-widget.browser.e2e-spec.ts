import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { AmocrmSandbox } from '../connectors/amocrm/amocrm.sandbox';
import { launchChromium } from './support/browser';
import { inboundCall } from './support/call-events';
import { seedWidgetAccount, widgetTenant } from './support/amocrm-widget';
import { FakePbxHttp } from './support/fake-pbx-http';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { build } = require('../scripts/widget-amocrm.js') as {
  build(): { dir: string; zip: string };
};

const KNOWN = '+79161234567';
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');

/**
 * The page amoCRM gives a widget, as its documentation describes it: an AMD loader, jQuery,
 * APP.notifications and APP.constant, and a widget object with get_settings, i18n,
 * add_action and $authorizedAjax (which asks amoCRM's backend, here the test server, for a
 * disposable token and sends it as a bearer). A link stands for a phone number in a card.
 */
function amoPage(o: { hubUrl: string; integrationId: string; userId: number }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>amoCRM</title>
<script src="/jquery.js"></script>
<script>
  window.messages = [];
  window.APP = {
    notifications: {
      show_message: function (m) { window.messages.push({ ok: true, m: m }); },
      show_message_error: function (m) { window.messages.push({ ok: false, m: m }); }
    },
    constant: function (name) {
      if (name === 'user') return { id: ${o.userId} };
      if (name === 'account') return { users: { '5001': 'Ivan Petrov', '5002': 'Olga Orlova' } };
      return null;
    }
  };
  var widgetFactory = null;
  window.define = function (deps, factory) {
    widgetFactory = factory.apply(null, deps.map(function (d) { return d === 'jquery' ? window.jQuery : undefined; }));
  };
  window.define.amd = {};
</script>
<script src="/widget/script.js"></script>
</head><body>
<h1>Contact</h1>
<a id="phone" href="#">${KNOWN}</a>
<script>
  var actions = {};
  var i18n = ${readFileSync(join(__dirname, '../connectors/amocrm/widget/i18n/en.json'), 'utf8')};
  var env = {
    get_settings: function () { return { hub_url: ${JSON.stringify(o.hubUrl)}, integration_id: ${JSON.stringify(o.integrationId)} }; },
    i18n: function (key) { return i18n[key]; },
    add_action: function (name, fn) { actions[name] = fn; },
    $authorizedAjax: function (options) {
      return $.getJSON('/amo/token?user=${o.userId}').then(function (reply) {
        return $.ajax($.extend({}, options, { headers: { Authorization: 'Bearer ' + reply.token } }));
      });
    }
  };
  var widget = Object.create(env);
  widgetFactory.call(widget);
  widget.callbacks.render();
  widget.callbacks.init();
  widget.callbacks.bind_actions();
  document.getElementById('phone').addEventListener('click', function (e) {
    e.preventDefault();
    actions.phone({ value: this.textContent });
  });
</script>
</body></html>`;
}

describe('the amoCRM widget in a real browser', () => {
  const amo = new AmocrmSandbox();
  const pbx = new FakePbxHttp();
  let t: TestApp;
  /** A second instance whose streams last 2 s, so the widget must sign in again and again. */
  let second: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;
  let browser: Browser;
  let context: BrowserContext;
  let pageServer: Server;
  let pageUrl: string;
  let widgetDir: string;

  /** Opens amoCRM's page for the user and waits until the widget's stream is open. */
  async function openAmo(path = ''): Promise<Page> {
    const page = await context.newPage();
    const connected = page.waitForEvent('console', {
      predicate: (m) => m.text() === '[telephony-hub] connected',
      timeout: 15000,
    });
    await page.goto(`${pageUrl}${path}`);
    await connected;
    return page;
  }

  beforeAll(async () => {
    widgetDir = build().dir;
    mkdirSync(ARTIFACTS, { recursive: true });
    seedWidgetAccount(amo, KNOWN);
    await Promise.all([amo.start(), pbx.start()]);
    t = await startTestApp();
    const audience = new URL(t.config.publicUrl).origin;
    tenant = await createTenant(t, { name: 'Browser shop' });
    integrationId = await widgetTenant(t, tenant, amo, pbx);

    second = await startTestApp({
      DATABASE_URL: t.config.databaseUrl,
      HUB_REDIS_PREFIX: t.config.redisPrefix,
      HUB_WIDGET_STREAM_S: '2',
    });
    const html = amoPage({ hubUrl: t.url, integrationId, userId: 5001 });
    const htmlOnSecond = amoPage({ hubUrl: second.url, integrationId, userId: 5001 });
    pageServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://page');
      if (url.pathname === '/' || url.pathname === '/second') {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(url.pathname === '/' ? html : htmlOnSecond);
      } else if (url.pathname === '/jquery.js') {
        res
          .writeHead(200, { 'content-type': 'text/javascript' })
          .end(readFileSync(require.resolve('jquery/dist/jquery.min.js')));
      } else if (url.pathname === '/widget/script.js') {
        res
          .writeHead(200, { 'content-type': 'text/javascript' })
          .end(readFileSync(join(widgetDir, 'script.js')));
      } else if (url.pathname === '/amo/token') {
        const token = amo.disposableToken(Number(url.searchParams.get('user')), audience);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  }, 90000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => pageServer?.close(r));
    await second?.app.close();
    await t?.close();
    await Promise.all([amo.stop(), pbx.stop()]);
  });

  it("shows the caller's card while it rings, and closes it when a colleague answers", async () => {
    const earlier = inboundCall('b-0', KNOWN, { ring: ['102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: [...earlier.start, ...earlier.end] });
    await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/b-0`),
      (r) => r.body?.status === 'ended',
      10000,
    );
    const page = await openAmo();
    const call = inboundCall('b-1', KNOWN, { ring: ['101', '102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: call.start });
    const card = page.locator('.telephony-hub-card[data-call-id="b-1"]');
    await card.waitFor({ state: 'visible', timeout: 10000 });
    expect(await card.locator('.telephony-hub-card__name').textContent()).toBe('Anna Smirnova');
    expect(await card.locator('.telephony-hub-card__responsible').textContent()).toBe(
      'Responsible: Ivan Petrov',
    );
    expect(await card.locator('a.js-navigate-link').getAttribute('href')).toBe(
      '/contacts/detail/7001',
    );
    const last = card.locator('.telephony-hub-card__last li');
    expect(await last.count()).toBe(1);
    expect(await last.first().textContent()).toMatch(/ · answered · 102$/);
    await page.screenshot({ path: join(ARTIFACTS, 'amocrm-widget-ringing.png') });

    await postEvents(t, tenant, { events: call.end });
    await card.waitFor({ state: 'detached', timeout: 10000 });
    await page.screenshot({ path: join(ARTIFACTS, 'amocrm-widget-closed.png') });
    await page.close();
  });

  it('offers to create a contact for an unknown number, in one tab of two', async () => {
    const [first, second] = [await openAmo(), await openAmo()];
    const call = inboundCall('b-2', '+74990001122', { ring: ['101'] });
    await postEvents(t, tenant, { events: call.start });
    const shown = await eventually(
      async () =>
        (await first.locator('.telephony-hub-card').count()) +
        (await second.locator('.telephony-hub-card').count()),
      (n) => n > 0,
      10000,
    );
    // Give the other tab time to show a copy, had it not been claimed.
    await new Promise((r) => setTimeout(r, 500));
    const counts = [
      await first.locator('.telephony-hub-card').count(),
      await second.locator('.telephony-hub-card').count(),
    ];
    expect(shown).toBe(1);
    expect([...counts].sort()).toEqual([0, 1]);
    const shownPage = counts[0] === 1 ? first : second;
    const card = shownPage.locator('.telephony-hub-card[data-call-id="b-2"]');
    expect(await card.locator('.telephony-hub-card__name').textContent()).toBe('Unknown number');
    expect(await card.locator('a.js-navigate-link').getAttribute('href')).toBe(
      '/contacts/add?phone=%2B74990001122',
    );
    await shownPage.screenshot({ path: join(ARTIFACTS, 'amocrm-widget-unknown.png') });
    await postEvents(t, tenant, { events: call.end });
    await card.waitFor({ state: 'detached', timeout: 10000 });
    await first.close();
    await second.close();
  });

  it("calls a number clicked in amoCRM from the user's extension", async () => {
    const page = await openAmo();
    const before = pbx.originates.length;
    await page.click('#phone');
    await eventually(
      async () => pbx.originates.length,
      (n) => n === before + 1,
      10000,
    );
    expect(JSON.parse(pbx.originates.at(-1)!.raw)).toMatchObject({ extension: '101', to: KNOWN });
    await page.waitForFunction(
      () => (globalThis as unknown as { messages: unknown[] }).messages.length > 0,
    );
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { messages: { ok: boolean }[] }).messages,
      ),
    ).toEqual([
      { ok: true, m: { header: 'Telephony hub', text: 'Your phone rings first, then the number' } },
    ]);
    await page.close();
  });

  it('signs in again when its stream ends, and gets calls another instance processed', async () => {
    const page = await context.newPage();
    let connections = 0;
    page.on('console', (m) => {
      if (m.text() === '[telephony-hub] connected') connections++;
    });
    await page.goto(`${pageUrl}second`);
    // The second instance ends each stream after 2 s; the widget opens a new session each time.
    await eventually(
      async () => connections,
      (n) => n >= 3,
      15000,
    );
    const call = inboundCall('b-3', KNOWN, { ring: ['101'] });
    // Posted to the first instance; the page's stream is on the second.
    await postEvents(t, tenant, { events: call.start });
    const card = page.locator('.telephony-hub-card[data-call-id="b-3"]');
    await card.waitFor({ state: 'visible', timeout: 10000 });
    await postEvents(t, tenant, { events: call.end });
    await card.waitFor({ state: 'detached', timeout: 10000 });
    await page.close();
  }, 40000);
});
