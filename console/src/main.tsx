import '@picocss/pico/css/pico.min.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, loadSession, request, saveSession, Session, Tenant } from './api';
import { App, appState, useLoad, useRoute } from './app-context';
import { ErrorBox, Loading } from './components';
import { I18n, initialLang, Lang, LANGS, MessageKey, translator, useT } from './i18n';
import { AgentsPage } from './pages/agents';
import { CallPage, CallsPage } from './pages/calls';
import { IntegrationsPage } from './pages/integrations';
import { OverviewPage } from './pages/overview';
import { PbxSourcesPage } from './pages/pbx-sources';
import { SignIn } from './pages/sign-in';
import { StatsPage } from './pages/stats';
import { TenantsPage } from './pages/tenants';

const SECTIONS: { path: string; key: MessageKey }[] = [
  { path: 'overview', key: 'nav.overview' },
  { path: 'calls', key: 'nav.calls' },
  { path: 'integrations', key: 'nav.integrations' },
  { path: 'agents', key: 'nav.agents' },
  { path: 'pbx', key: 'nav.pbx' },
  { path: 'stats', key: 'nav.stats' },
];

function Root() {
  const [lang, setLang] = useState<Lang>(initialLang);
  const [session, setSession] = useState<Session | null>(loadSession);
  const i18n = useMemo(() => ({ lang, t: translator(lang) }), [lang]);
  useEffect(() => {
    document.documentElement.lang = lang;
    localStorage.setItem('hub-console.lang', lang);
  }, [lang]);
  const update = (next: Session | null) => {
    saveSession(next);
    setSession(next);
  };
  return (
    <I18n.Provider value={i18n}>
      {session ? (
        <Shell session={session} onSession={update} lang={lang} onLang={setLang} />
      ) : (
        <main class="container narrow" id="main">
          <LangPicker lang={lang} onLang={setLang} />
          <SignIn onSignedIn={update} />
        </main>
      )}
    </I18n.Provider>
  );
}

function LangPicker({ lang, onLang }: { lang: Lang; onLang(lang: Lang): void }) {
  const t = useT();
  return (
    <label class="lang">
      <span class="visually-hidden">{t('app.language')}</span>
      <select
        aria-label={t('app.language')}
        value={lang}
        onChange={(e) => onLang(e.currentTarget.value as Lang)}
      >
        {(Object.keys(LANGS) as Lang[]).map((l) => (
          <option value={l} key={l}>
            {LANGS[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

function Shell({
  session,
  onSession,
  lang,
  onLang,
}: {
  session: Session;
  onSession(s: Session | null): void;
  lang: Lang;
  onLang(lang: Lang): void;
}) {
  const t = useT();
  const route = useRoute();
  const tenantId = session.tenantId;
  const tenant = useLoad<Tenant | null>(
    () =>
      tenantId
        ? request<Tenant>(session, 'GET', `/v1/tenants/${encodeURIComponent(tenantId)}`)
        : Promise.resolve(null),
    `${session.kind}:${tenantId}`,
  );
  // A key that stopped working (rotated, tenant deleted) signs the console out.
  useEffect(() => {
    if (tenant.error instanceof ApiError && tenant.error.status === 401) onSession(null);
  }, [tenant.error, onSession]);
  const section = route[0] ?? (tenantId ? 'overview' : 'tenants');
  const admin = session.kind === 'admin';
  const pickTenant = (id: string | null) => {
    if (session.kind !== 'admin') return;
    onSession({ ...session, tenantId: id });
    location.hash = id ? '#/overview' : '#/tenants';
  };
  const state = useMemo(
    () => (tenantId ? appState(session, tenantId, tenant.data ?? null) : null),
    [session, tenantId, tenant.data],
  );
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        {t('app.skip')}
      </a>
      <header class="container-fluid top">
        <nav aria-label={t('nav.main')}>
          <ul>
            <li>
              <strong>{t('app.title')}</strong>
              {tenant.data && <span class="tenant-name"> · {tenant.data.name}</span>}
            </li>
          </ul>
          <ul class="sections">
            {tenantId &&
              SECTIONS.map((s) => (
                <li key={s.path}>
                  <a href={`#/${s.path}`} aria-current={section === s.path ? 'page' : undefined}>
                    {t(s.key)}
                  </a>
                </li>
              ))}
            {admin && (
              <li>
                <a href="#/tenants" aria-current={section === 'tenants' ? 'page' : undefined}>
                  {t('nav.tenants')}
                </a>
              </li>
            )}
            {admin && (
              <li>
                <a href="/admin/queues" target="_blank" rel="noopener">
                  {t('app.queues')}
                </a>
              </li>
            )}
            <li>
              <LangPicker lang={lang} onLang={onLang} />
            </li>
            <li>
              <button type="button" class="secondary outline small" onClick={() => onSession(null)}>
                {t('app.signOut')}
              </button>
            </li>
          </ul>
        </nav>
      </header>
      <main class="container" id="main" tabIndex={-1}>
        <ErrorBox error={tenant.error} />
        <Loading when={tenant.loading && !tenant.data && !!tenantId} />
        {section === 'tenants' && admin ? (
          <TenantsPage session={session} current={tenantId} onPick={pickTenant} />
        ) : state && tenant.data ? (
          <App.Provider value={state}>
            <Page section={section} rest={route.slice(1)} />
          </App.Provider>
        ) : null}
      </main>
    </>
  );
}

function Page({ section, rest }: { section: string; rest: string[] }) {
  switch (section) {
    case 'calls':
      return rest[0] ? <CallPage callId={rest[0]} /> : <CallsPage />;
    case 'integrations':
      return <IntegrationsPage />;
    case 'agents':
      return <AgentsPage />;
    case 'pbx':
      return <PbxSourcesPage />;
    case 'stats':
      return <StatsPage />;
    default:
      return <OverviewPage />;
  }
}

render(<Root />, document.getElementById('app') as HTMLElement);
