import { useState } from 'preact/hooks';
import { ConnectorManifest, Integration, IntegrationSettings, request } from '../api';
import { useAction, useApp, useLoad } from '../app-context';
import { Badge, ErrorBox, filled, Loading, ManifestFieldset, Notice } from '../components';
import { MessageKey, useT } from '../i18n';

const DEFAULT_SETTINGS: IntegrationSettings = {
  popOnRinging: true,
  logCalls: true,
  attachRecordings: true,
  createLeadFor: 'missed',
  routeToResponsible: true,
};
const SWITCHES = ['popOnRinging', 'logCalls', 'attachRecordings', 'routeToResponsible'] as const;

export function IntegrationsPage() {
  const t = useT();
  const { api, tenantPath } = useApp();
  const list = useLoad(() => api<Integration[]>('GET', tenantPath('/integrations')), 'list');
  const manifests = useLoad(() => request<ConnectorManifest[]>(null, 'GET', '/v1/connectors'), 'm');
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [results, setResults] = useState<Record<string, { ok: boolean; message?: string }>>({});

  const act = async (fn: () => Promise<unknown>, done?: string) => {
    setError(null);
    setNotice(null);
    try {
      await fn();
      if (done) setNotice(done);
      list.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const test = (i: Integration) =>
    act(async () => {
      const reply = await api<{ ok: boolean; status: string; message?: string }>(
        'POST',
        tenantPath(`/integrations/${i.id}/test`),
      );
      setResults((r) => ({ ...r, [i.id]: reply }));
    });

  return (
    <>
      <h1>{t('integrations.title')}</h1>
      <ErrorBox error={list.error ?? error} />
      <Notice text={notice} />
      <Loading when={list.loading && !list.data} />
      {list.data?.length === 0 && <p>{t('integrations.none')}</p>}
      {list.data?.map((i) => {
        const name = manifests.data?.find((m) => m.id === i.connector)?.displayName ?? i.connector;
        const result = results[i.id];
        return (
          <article key={i.id} data-integration={i.id}>
            <header class="title-row">
              <strong>{name}</strong>
              <Badge value={i.enabled ? i.status : 'disabled'} />
            </header>
            {i.statusMessage && <p class="muted">{i.statusMessage}</p>}
            <p>
              <small>
                <code>{i.id}</code>
              </small>
            </p>
            <div class="actions">
              {i.authorizeUrl && (i.status === 'needs_auth' || i.status === 'needs_reauth') && (
                <a role="button" href={i.authorizeUrl} target="_blank" rel="noopener">
                  {t('integrations.connect')}
                </a>
              )}
              <button type="button" class="secondary" onClick={() => void test(i)}>
                {t('integrations.test')}
              </button>
              <button
                type="button"
                class="secondary outline"
                onClick={() =>
                  void act(() =>
                    api('PATCH', tenantPath(`/integrations/${i.id}`), { enabled: !i.enabled }),
                  )
                }
              >
                {i.enabled ? t('integrations.disable') : t('integrations.enable')}
              </button>
              <button
                type="button"
                class="contrast outline"
                onClick={() =>
                  confirm(t('common.confirmDelete', { name })) &&
                  void act(() => api('DELETE', tenantPath(`/integrations/${i.id}`)))
                }
              >
                {t('common.delete')}
              </button>
            </div>
            {result && (
              <p role="status" class={result.ok ? 'tone-ok' : 'tone-bad'} data-testid="test-result">
                {result.ok ? t('integrations.testOk') : result.message}
              </p>
            )}
          </article>
        );
      })}
      {manifests.data && (
        <AddIntegration
          manifests={manifests.data}
          onAdded={() => {
            setNotice(t('integrations.created'));
            list.reload();
          }}
        />
      )}
    </>
  );
}

function AddIntegration({
  manifests,
  onAdded,
}: {
  manifests: ConnectorManifest[];
  onAdded(created: Integration): void;
}) {
  const t = useT();
  const { api, tenantPath } = useApp();
  const [connector, setConnector] = useState(manifests[0]?.id ?? '');
  const [config, setConfig] = useState<Record<string, unknown>>({});
  const [credentials, setCredentials] = useState<Record<string, unknown>>({});
  const [settings, setSettings] = useState<IntegrationSettings>(DEFAULT_SETTINGS);
  const action = useAction();
  const manifest = manifests.find((m) => m.id === connector);

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const created = await api<Integration>('POST', tenantPath('/integrations'), {
        connector,
        config: filled(config),
        credentials: filled(credentials),
        settings,
      });
      setConfig({});
      setCredentials({});
      onAdded(created);
    });
  };

  return (
    <details>
      <summary role="button" class="outline">
        {t('integrations.add')}
      </summary>
      <form onSubmit={submit} aria-label={t('integrations.add')}>
        <label for="connector">
          {t('integrations.connector')}
          <select
            id="connector"
            value={connector}
            onChange={(e) => {
              setConnector(e.currentTarget.value);
              setConfig({});
              setCredentials({});
            }}
          >
            {manifests.map((m) => (
              <option value={m.id} key={m.id}>
                {m.displayName}
              </option>
            ))}
          </select>
        </label>
        {manifest && (
          <>
            <ManifestFieldset
              legend={t('integrations.config')}
              fields={manifest.config}
              group="config"
              values={config}
              onChange={setConfig}
            />
            <ManifestFieldset
              legend={t('integrations.credentials')}
              fields={manifest.credentials}
              group="credentials"
              values={credentials}
              onChange={setCredentials}
            />
          </>
        )}
        <fieldset>
          <legend>{t('integrations.behaviour')}</legend>
          {SWITCHES.map((name) => (
            <label for={`settings-${name}`} key={name}>
              <input
                id={`settings-${name}`}
                type="checkbox"
                role="switch"
                checked={settings[name]}
                onChange={(e) => {
                  const checked = e.currentTarget.checked;
                  setSettings((s) => ({ ...s, [name]: checked }));
                }}
              />
              {t(`settings.${name}` as MessageKey)}
            </label>
          ))}
          <label for="settings-createLeadFor">
            {t('settings.createLeadFor')}
            <select
              id="settings-createLeadFor"
              value={settings.createLeadFor}
              onChange={(e) => {
                const value = e.currentTarget.value as IntegrationSettings['createLeadFor'];
                setSettings((s) => ({ ...s, createLeadFor: value }));
              }}
            >
              {(['missed', 'unknown', 'none'] as const).map((v) => (
                <option value={v} key={v}>
                  {t(`lead.${v}`)}
                </option>
              ))}
            </select>
          </label>
        </fieldset>
        <ErrorBox error={action.error} />
        <button type="submit" aria-busy={action.busy} disabled={action.busy}>
          {t('common.add')}
        </button>
      </form>
    </details>
  );
}
