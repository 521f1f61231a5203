import { useState } from 'preact/hooks';
import { PbxSource, PbxSourceType, request } from '../api';
import { useAction, useApp, useLoad } from '../app-context';
import {
  Badge,
  CopyButton,
  ErrorBox,
  filled,
  inputType,
  Loading,
  ManifestFieldset,
  Notice,
} from '../components';
import { useT } from '../i18n';

interface Webhook {
  url: string | null;
  signing: 'hub-signature' | 'pbx' | null;
  secret?: string;
}

export function PbxSourcesPage() {
  const t = useT();
  const { api, tenantPath } = useApp();
  const list = useLoad(() => api<PbxSource[]>('GET', tenantPath('/pbx-sources')), 'list');
  const types = useLoad(() => request<PbxSourceType[]>(null, 'GET', '/v1/pbx-source-types'), 't');
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);

  return (
    <>
      <h1>{t('pbx.title')}</h1>
      <ErrorBox error={list.error ?? types.error ?? error} />
      <Notice text={notice} />
      <Loading when={list.loading && !list.data} />
      {list.data?.length === 0 && <p>{t('pbx.none')}</p>}
      {list.data?.map((s) => (
        <SourceCard
          key={s.id}
          source={s}
          type={types.data?.find((x) => x.type === s.type)}
          onDelete={async () => {
            setError(null);
            try {
              await api('DELETE', tenantPath(`/pbx-sources/${s.id}`));
              list.reload();
            } catch (err) {
              setError(err as Error);
            }
          }}
        />
      ))}
      {types.data && (
        <AddSource
          types={types.data}
          onAdded={() => {
            setNotice(t('pbx.created'));
            list.reload();
          }}
        />
      )}
    </>
  );
}

function SourceCard({
  source,
  type,
  onDelete,
}: {
  source: PbxSource;
  type: PbxSourceType | undefined;
  onDelete(): Promise<void>;
}) {
  const t = useT();
  const { api, tenantPath } = useApp();
  const hook = useLoad(
    () => api<Webhook>('GET', tenantPath(`/pbx-sources/${source.id}/webhook`)),
    source.id,
  );
  const [reveal, setReveal] = useState(false);
  const name = type?.displayName ?? source.type;
  const w = hook.data;
  return (
    <article data-source={source.id}>
      <header class="title-row">
        <strong>{name}</strong>
        <Badge value={source.status} />
      </header>
      {source.statusMessage && <p class="muted">{source.statusMessage}</p>}
      <ErrorBox error={hook.error} />
      {w && w.url === null && <p>{t('pbx.noWebhook')}</p>}
      {w?.url && (
        <>
          <label for={`url-${source.id}`}>{t('pbx.webhook')}</label>
          <div class="copy-row">
            <input id={`url-${source.id}`} readOnly value={w.url} data-testid="webhook-url" />
            <CopyButton text={w.url} what={t('pbx.webhook')} />
          </div>
        </>
      )}
      {w?.secret && (
        <>
          <label for={`secret-${source.id}`}>{t('pbx.secret')}</label>
          <div class="copy-row">
            <input
              id={`secret-${source.id}`}
              readOnly
              {...inputType(reveal ? 'text' : 'password')}
              value={w.secret}
              data-testid="webhook-secret"
            />
            <button
              type="button"
              class="secondary outline small"
              onClick={() => setReveal(!reveal)}
            >
              {t('common.show')}
            </button>
            <CopyButton text={w.secret} what={t('pbx.secret')} />
          </div>
        </>
      )}
      {w?.signing === 'hub-signature' && <small>{t('pbx.signingHub')}</small>}
      {w?.signing === 'pbx' && <small>{t('pbx.signingPbx')}</small>}
      <footer>
        <small>
          <code>{source.id}</code>
        </small>{' '}
        <button
          type="button"
          class="contrast outline small"
          onClick={() => confirm(t('common.confirmDelete', { name })) && void onDelete()}
        >
          {t('common.delete')}
        </button>
      </footer>
    </article>
  );
}

function AddSource({ types, onAdded }: { types: PbxSourceType[]; onAdded(): void }) {
  const t = useT();
  const { api, tenantPath } = useApp();
  const [type, setType] = useState(types[0]?.type ?? '');
  const [config, setConfig] = useState<Record<string, unknown>>({});
  const [credentials, setCredentials] = useState<Record<string, unknown>>({});
  const action = useAction();
  const chosen = types.find((x) => x.type === type);

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const creds = filled(credentials);
      await api('POST', tenantPath('/pbx-sources'), {
        type,
        config: filled(config),
        ...(Object.keys(creds).length ? { credentials: creds } : {}),
      });
      setConfig({});
      setCredentials({});
      onAdded();
    });
  };

  return (
    <details>
      <summary role="button" class="outline">
        {t('pbx.add')}
      </summary>
      <form onSubmit={submit} aria-label={t('pbx.add')}>
        <label for="pbx-type">
          {t('pbx.type')}
          <select
            id="pbx-type"
            value={type}
            onChange={(e) => {
              setType(e.currentTarget.value);
              setConfig({});
              setCredentials({});
            }}
          >
            {types.map((x) => (
              <option value={x.type} key={x.type}>
                {x.displayName}
              </option>
            ))}
          </select>
        </label>
        {chosen && (
          <>
            <ManifestFieldset
              legend={t('pbx.connect')}
              fields={chosen.config}
              group="pbx-config"
              values={config}
              onChange={setConfig}
            />
            <ManifestFieldset
              legend={t('integrations.credentials')}
              fields={chosen.credentials}
              group="pbx-credentials"
              values={credentials}
              onChange={setCredentials}
            />
          </>
        )}
        <ErrorBox error={action.error} />
        <button type="submit" aria-busy={action.busy} disabled={action.busy}>
          {t('common.add')}
        </button>
      </form>
    </details>
  );
}
