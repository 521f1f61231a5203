import { useState } from 'preact/hooks';
import { request, Session, Tenant } from '../api';
import { useLoad } from '../app-context';
import { CopyButton, ErrorBox, Loading } from '../components';
import { useT } from '../i18n';

type Created = Tenant & { apiKey: string; webhookSecret: string };

/** Operators: every tenant, a new one, and which one the console shows. */
export function TenantsPage({
  session,
  current,
  onPick,
}: {
  session: Session;
  current: string | null;
  onPick(id: string): void;
}) {
  const t = useT();
  const list = useLoad(() => request<Tenant[]>(session, 'GET', '/v1/tenants'), 'tenants');
  const [form, setForm] = useState({ name: '', defaultCountry: 'RU', timezone: 'Europe/Moscow' });
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      setCreated(await request<Created>(session, 'POST', '/v1/tenants', form));
      setForm({ ...form, name: '' });
      list.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h1>{t('tenants.title')}</h1>
      <ErrorBox error={list.error} />
      <Loading when={list.loading && !list.data} />
      {list.data && (
        <div class="table-wrap">
          <table class="striped" data-testid="tenants">
            <thead>
              <tr>
                <th scope="col">{t('tenants.name')}</th>
                <th scope="col">ID</th>
                <th scope="col">{t('tenants.timezone')}</th>
                <th scope="col">
                  <span class="visually-hidden">{t('tenants.open')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((x) => (
                <tr key={x.id} aria-current={x.id === current ? 'true' : undefined}>
                  <td>{x.name}</td>
                  <td>
                    <code>{x.id}</code>
                  </td>
                  <td>{x.timezone}</td>
                  <td>
                    <button type="button" class="small" onClick={() => onPick(x.id)}>
                      {t('tenants.open')} <span class="visually-hidden">{x.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <details>
        <summary role="button" class="outline">
          {t('tenants.add')}
        </summary>
        <form onSubmit={submit}>
          <label for="t-name">
            {t('tenants.name')}
            <input
              id="t-name"
              required
              maxLength={200}
              value={form.name}
              onInput={(e) => setForm({ ...form, name: e.currentTarget.value })}
            />
          </label>
          <label for="t-country">
            {t('tenants.country')}
            <input
              id="t-country"
              required
              pattern="[A-Z]{2}"
              maxLength={2}
              value={form.defaultCountry}
              onInput={(e) =>
                setForm({ ...form, defaultCountry: e.currentTarget.value.toUpperCase() })
              }
            />
          </label>
          <label for="t-zone">
            {t('tenants.timezone')}
            <input
              id="t-zone"
              required
              maxLength={64}
              value={form.timezone}
              onInput={(e) => setForm({ ...form, timezone: e.currentTarget.value })}
            />
          </label>
          <ErrorBox error={error} />
          <button type="submit">{t('common.add')}</button>
        </form>
      </details>
      {created && (
        <article aria-live="polite">
          <p>{t('tenants.created')}</p>
          <dl class="facts">
            <dt>ID</dt>
            <dd>
              <code>{created.id}</code>
            </dd>
            <dt>apiKey</dt>
            <dd>
              <code>{created.apiKey}</code> <CopyButton text={created.apiKey} what="apiKey" />
            </dd>
            <dt>webhookSecret</dt>
            <dd>
              <code>{created.webhookSecret}</code>{' '}
              <CopyButton text={created.webhookSecret} what="webhookSecret" />
            </dd>
          </dl>
        </article>
      )}
    </>
  );
}
