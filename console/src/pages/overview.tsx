import type { Call, Integration, PbxSource, Stats } from '../api';
import { useApp, useLoad } from '../app-context';
import { Badge, ErrorBox, Loading } from '../components';
import { localDate, startOfLocalDay } from '../format';
import { useT } from '../i18n';

interface Overview {
  today: Stats;
  failing: number;
  failingMore: boolean;
  integrations: Integration[];
  sources: PbxSource[];
}

/** Today's figures, what is failing now, and the state of every integration and source. */
export function OverviewPage() {
  const t = useT();
  const { api, tenantPath, tenant } = useApp();
  const zone = tenant?.timezone ?? 'UTC';
  const data = useLoad<Overview>(async () => {
    const from = startOfLocalDay(localDate(zone), zone);
    const to = new Date(Date.now() + 60_000).toISOString();
    const [today, failing, integrations, sources] = await Promise.all([
      api<Stats>('GET', tenantPath(`/stats?${new URLSearchParams({ from, to, groupBy: 'day' })}`)),
      api<{ items: Call[]; nextCursor: string | null }>(
        'GET',
        tenantPath('/calls?actionStatus=failed&limit=100'),
      ),
      api<Integration[]>('GET', tenantPath('/integrations')),
      api<PbxSource[]>('GET', tenantPath('/pbx-sources')),
    ]);
    return {
      today,
      failing: failing.items.length,
      failingMore: failing.nextCursor !== null,
      integrations,
      sources,
    };
  }, zone);
  const d = data.data;
  return (
    <>
      <h1>{t('nav.overview')}</h1>
      <ErrorBox error={data.error} />
      <Loading when={data.loading && !d} />
      {d && (
        <>
          <h2>{t('overview.today')}</h2>
          <div class="tiles" data-testid="today">
            <Tile
              label={t('overview.calls')}
              value={d.today.totals.inbound + d.today.totals.outbound}
            />
            <Tile label={t('overview.inbound')} value={d.today.totals.inbound} />
            <Tile label={t('overview.outbound')} value={d.today.totals.outbound} />
            <Tile label={t('overview.missed')} value={d.today.totals.missed} />
            <Tile
              label={t('overview.notCalledBack')}
              value={d.today.totals.missed - d.today.totals.calledBack}
              tone={d.today.totals.missed - d.today.totals.calledBack > 0 ? 'warn' : undefined}
              href="#/calls?result=missed"
            />
            <Tile
              label={t('overview.failing')}
              value={d.failingMore ? `${d.failing}+` : d.failing}
              tone={d.failing > 0 ? 'bad' : undefined}
              href="#/calls?actionStatus=failed"
            />
          </div>
          <div class="grid-2">
            <section>
              <h2>{t('overview.integrations')}</h2>
              {d.integrations.length === 0 && <p>{t('overview.nothing')}</p>}
              <ul class="plain">
                {d.integrations.map((i) => (
                  <li key={i.id}>
                    <strong>{i.connector}</strong>{' '}
                    <Badge value={i.enabled ? i.status : 'disabled'} />
                    {i.statusMessage && <small class="block">{i.statusMessage}</small>}
                  </li>
                ))}
              </ul>
            </section>
            <section>
              <h2>{t('overview.sources')}</h2>
              {d.sources.length === 0 && <p>{t('overview.nothing')}</p>}
              <ul class="plain">
                {d.sources.map((s) => (
                  <li key={s.id}>
                    <strong>{s.type}</strong> <Badge value={s.status} />
                    {s.statusMessage && <small class="block">{s.statusMessage}</small>}
                  </li>
                ))}
              </ul>
            </section>
          </div>
        </>
      )}
    </>
  );
}

function Tile(p: { label: string; value: number | string; tone?: string; href?: string }) {
  const body = (
    <>
      <span class="tile-value">{p.value}</span>
      <span class="tile-label">{p.label}</span>
    </>
  );
  return (
    <article class={`tile ${p.tone ? `tone-${p.tone}` : ''}`}>
      {p.href ? <a href={p.href}>{body}</a> : body}
    </article>
  );
}
