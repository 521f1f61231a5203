import { useEffect, useState } from 'preact/hooks';
import { Agent, ConnectorManifest, CrmUser, Integration, request } from '../api';
import { useAction, useApp, useLoad } from '../app-context';
import { ErrorBox, Loading, Notice } from '../components';
import { useT } from '../i18n';

interface Row {
  key: number;
  extension: string;
  name: string;
  mobile: string;
  crmUsers: Record<string, string>;
}

interface Setup {
  agents: Agent[];
  integrations: Integration[];
  /** Per integration that can list them: its users, or why they could not be read. */
  users: Record<string, CrmUser[] | string>;
}

let nextKey = 1;
const row = (a: Partial<Agent>): Row => ({
  key: nextKey++,
  extension: a.extension ?? '',
  name: a.name ?? '',
  mobile: a.mobile ?? '',
  crmUsers: { ...(a.crmUsers ?? {}) },
});

/** The agent map, edited as a table whose CRM columns offer each CRM's users. */
export function AgentsPage() {
  const t = useT();
  const { api, tenantPath } = useApp();
  const setup = useLoad<Setup>(async () => {
    const [agents, integrations, manifests] = await Promise.all([
      api<Agent[]>('GET', tenantPath('/agents')),
      api<Integration[]>('GET', tenantPath('/integrations')),
      request<ConnectorManifest[]>(null, 'GET', '/v1/connectors'),
    ]);
    const listing = integrations.filter((i) =>
      manifests.find((m) => m.id === i.connector)?.capabilities.includes('users'),
    );
    const users: Setup['users'] = {};
    await Promise.all(
      listing.map(async (i) => {
        users[i.id] = await api<CrmUser[]>('GET', tenantPath(`/integrations/${i.id}/users`)).catch(
          (err: Error) => err.message,
        );
      }),
    );
    return { agents, integrations, users };
  }, 'agents');
  const [rows, setRows] = useState<Row[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const saving = useAction();
  useEffect(() => {
    if (setup.data) setRows(setup.data.agents.map(row));
  }, [setup.data]);

  const s = setup.data;
  const change = (key: number, patch: Partial<Row>) =>
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  /**
   * A row for each CRM user no row is mapped to yet: with the extension the CRM keeps for
   * them where it keeps one (else the admin types it). A row whose extension is a user's
   * gets that user where it has none.
   */
  const fill = (integration: Integration) => {
    const users = s?.users[integration.id];
    if (!Array.isArray(users)) return;
    const mapped = new Set(rows.map((r) => r.crmUsers[integration.id]).filter(Boolean));
    const byExtension = new Map(users.filter((u) => u.extension).map((u) => [u.extension, u]));
    const updated = rows.map((r) => {
      const u = byExtension.get(r.extension);
      if (!u || r.crmUsers[integration.id] || mapped.has(u.crmUserId)) return r;
      mapped.add(u.crmUserId);
      return {
        ...r,
        name: r.name || u.name,
        crmUsers: { ...r.crmUsers, [integration.id]: u.crmUserId },
      };
    });
    const taken = new Set(updated.map((r) => r.extension).filter(Boolean));
    const added = users
      .filter((u) => !mapped.has(u.crmUserId))
      .map((u) =>
        row({
          extension: u.extension && !taken.has(u.extension) ? u.extension : '',
          name: u.name,
          mobile: u.mobile,
          crmUsers: { [integration.id]: u.crmUserId },
        }),
      );
    setRows([...updated, ...added]);
    setNotice(t('agents.filled', { n: added.length }));
  };

  const save = (e: Event) => {
    e.preventDefault();
    setNotice(null);
    void saving.run(async () => {
      const body = rows.map((r) => ({
        extension: r.extension.trim(),
        ...(r.name.trim() ? { name: r.name.trim() } : {}),
        ...(r.mobile.trim() ? { mobile: r.mobile.trim() } : {}),
        crmUsers: Object.fromEntries(Object.entries(r.crmUsers).filter(([, v]) => v)),
      }));
      const saved = await api<Agent[]>('PUT', tenantPath('/agents'), body);
      setRows(saved.map(row));
      setNotice(t('agents.saved', { n: saved.length }));
    });
  };

  return (
    <>
      <h1>{t('agents.title')}</h1>
      <p>{t('agents.lead')}</p>
      <ErrorBox error={setup.error} />
      <Loading when={setup.loading && !s} />
      {s && s.integrations.length === 0 && <p>{t('agents.noIntegrations')}</p>}
      {s && (
        <form onSubmit={save}>
          <div class="actions">
            {s.integrations
              .filter((i) => i.id in s.users)
              .map((i) => (
                <button type="button" class="secondary" key={i.id} onClick={() => fill(i)}>
                  {t('agents.fill', { crm: i.connector })}
                </button>
              ))}
          </div>
          {s.integrations
            .filter((i) => typeof s.users[i.id] === 'string')
            .map((i) => (
              <ErrorBox key={i.id} error={`${i.connector}: ${s.users[i.id] as string}`} />
            ))}
          <div class="table-wrap">
            <table data-testid="agents">
              <thead>
                <tr>
                  <th scope="col">{t('agents.extension')}</th>
                  <th scope="col">{t('agents.name')}</th>
                  <th scope="col">{t('agents.mobile')}</th>
                  {s.integrations.map((i) => (
                    <th scope="col" key={i.id}>
                      {i.connector}
                    </th>
                  ))}
                  <th scope="col">
                    <span class="visually-hidden">{t('common.delete')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r, n) => (
                  <tr key={r.key}>
                    <td>
                      <input
                        aria-label={`${t('agents.extension')} ${n + 1}`}
                        value={r.extension}
                        required
                        maxLength={64}
                        onInput={(e) => change(r.key, { extension: e.currentTarget.value })}
                      />
                    </td>
                    <td>
                      <input
                        aria-label={`${t('agents.name')} ${n + 1}`}
                        value={r.name}
                        maxLength={200}
                        onInput={(e) => change(r.key, { name: e.currentTarget.value })}
                      />
                    </td>
                    <td>
                      <input
                        aria-label={`${t('agents.mobile')} ${n + 1}`}
                        value={r.mobile}
                        type="tel"
                        maxLength={32}
                        onInput={(e) => change(r.key, { mobile: e.currentTarget.value })}
                      />
                    </td>
                    {s.integrations.map((i) => {
                      const users = s.users[i.id];
                      const value = r.crmUsers[i.id] ?? '';
                      const set = (v: string) =>
                        change(r.key, { crmUsers: { ...r.crmUsers, [i.id]: v } });
                      const name = `${i.connector} ${n + 1}`;
                      return (
                        <td key={i.id}>
                          {Array.isArray(users) ? (
                            <select
                              aria-label={name}
                              value={value}
                              onChange={(e) => set(e.currentTarget.value)}
                            >
                              <option value="">{t('agents.noUser')}</option>
                              {value && !users.some((u) => u.crmUserId === value) && (
                                <option value={value}>{value}</option>
                              )}
                              {users.map((u) => (
                                <option value={u.crmUserId} key={u.crmUserId}>
                                  {u.name} ({u.crmUserId})
                                </option>
                              ))}
                            </select>
                          ) : (
                            <input
                              aria-label={name}
                              value={value}
                              maxLength={64}
                              onInput={(e) => set(e.currentTarget.value)}
                            />
                          )}
                        </td>
                      );
                    })}
                    <td>
                      <button
                        type="button"
                        class="contrast outline small"
                        aria-label={t('agents.remove', { ext: r.extension || String(n + 1) })}
                        onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
                      >
                        ×
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="actions">
            <button
              type="button"
              class="secondary outline"
              onClick={() => setRows((rs) => [...rs, row({})])}
            >
              {t('agents.addRow')}
            </button>
            <button type="submit" aria-busy={saving.busy} disabled={saving.busy}>
              {t('common.save')}
            </button>
          </div>
          <ErrorBox error={saving.error} />
          <Notice text={notice} />
        </form>
      )}
    </>
  );
}
