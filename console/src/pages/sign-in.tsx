import { useState } from 'preact/hooks';
import { request, Session, Tenant } from '../api';
import { useAction } from '../app-context';
import { ErrorBox } from '../components';
import { useT } from '../i18n';

/** The credential is checked against the hub before it is kept. */
export function SignIn({ onSignedIn }: { onSignedIn(session: Session): void }) {
  const t = useT();
  const [kind, setKind] = useState<'key' | 'admin'>('key');
  const [tenantId, setTenantId] = useState('');
  const [token, setToken] = useState('');
  const signing = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void signing.run(async () => {
      const session: Session =
        kind === 'key'
          ? { kind, tenantId: tenantId.trim(), token: token.trim() }
          : { kind, token: token.trim(), tenantId: null };
      if (session.kind === 'key') {
        await request<Tenant>(
          session,
          'GET',
          `/v1/tenants/${encodeURIComponent(session.tenantId)}`,
        );
      } else {
        await request<Tenant[]>(session, 'GET', '/v1/tenants');
      }
      location.hash = session.kind === 'key' ? '#/overview' : '#/tenants';
      onSignedIn(session);
    });
  };
  return (
    <article>
      <h1>{t('signin.title')}</h1>
      <p>{t('signin.lead')}</p>
      <form onSubmit={submit}>
        <fieldset>
          <legend class="visually-hidden">{t('signin.title')}</legend>
          <label>
            <input
              type="radio"
              name="kind"
              checked={kind === 'key'}
              onChange={() => setKind('key')}
            />
            {t('signin.asTenant')}
          </label>
          <label>
            <input
              type="radio"
              name="kind"
              checked={kind === 'admin'}
              onChange={() => setKind('admin')}
            />
            {t('signin.asAdmin')}
          </label>
        </fieldset>
        {kind === 'key' && (
          <label for="tenant-id">
            {t('signin.tenantId')}
            <input
              id="tenant-id"
              required
              autoComplete="username"
              value={tenantId}
              onInput={(e) => setTenantId(e.currentTarget.value)}
            />
          </label>
        )}
        <label for="token">
          {kind === 'key' ? t('signin.apiKey') : t('signin.adminToken')}
          <input
            id="token"
            type="password"
            required
            autoComplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
        </label>
        <ErrorBox error={signing.error} />
        <button type="submit" aria-busy={signing.busy} disabled={signing.busy}>
          {t('signin.submit')}
        </button>
        <small>{t('signin.kept')}</small>
      </form>
    </article>
  );
}
