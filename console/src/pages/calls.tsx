import { useEffect, useState } from 'preact/hooks';
import { Call, CallDetail, download, openStream } from '../api';
import { useAction, useApp, useLoad } from '../app-context';
import { Badge, ErrorBox, Loading, Notice, Select } from '../components';
import { formatDuration, formatTime, nextDate, startOfLocalDay } from '../format';
import { label, useLang, useT } from '../i18n';

const FILTERS = [
  'from',
  'to',
  'extension',
  'line',
  'direction',
  'result',
  'action',
  'actionStatus',
] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function filtersFromHash(): Filters {
  const query = new URLSearchParams(location.hash.split('?')[1] ?? '');
  return Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Filters;
}

/** The list's query: dates are the tenant's local days, the rest as the API names them. */
function query(f: Filters, zone: string): URLSearchParams {
  const q = new URLSearchParams();
  if (f.from) q.set('since', startOfLocalDay(f.from, zone));
  if (f.to) q.set('until', startOfLocalDay(nextDate(f.to), zone));
  for (const name of [
    'extension',
    'line',
    'direction',
    'result',
    'action',
    'actionStatus',
  ] as const) {
    if (f[name]) q.set(name, f[name]);
  }
  return q;
}

/** Whether a call that just changed belongs in the list as filtered (action states are the server's to tell). */
function matches(call: Call, f: Filters, q: URLSearchParams): boolean {
  if (f.action || f.actionStatus) return false;
  if (f.direction && call.direction !== f.direction) return false;
  if (f.result && call.result !== f.result) return false;
  if (f.extension && ![call.extension, call.answeredBy, ...call.ringing].includes(f.extension))
    return false;
  if (f.line && (call.direction === 'inbound' ? call.to : call.from) !== f.line) return false;
  const since = q.get('since');
  const until = q.get('until');
  if (since && call.startedAt < since) return false;
  if (until && call.startedAt >= until) return false;
  return true;
}

function party(call: Call, side: 'from' | 'to'): string {
  const number = call[side];
  const outside = call.direction === 'inbound' ? 'from' : 'to';
  if (call.clientCode && side === outside && call.direction !== 'internal')
    return `#${call.clientCode}`;
  return number ?? '—';
}

export function CallsPage() {
  const t = useT();
  const lang = useLang();
  const { api, tenantPath, tenant, session } = useApp();
  const zone = tenant?.timezone ?? 'UTC';
  const [draft, setDraft] = useState<Filters>(filtersFromHash);
  const [filters, setFilters] = useState<Filters>(draft);
  const [calls, setCalls] = useState<Call[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const q = query(filters, zone);
  const qs = q.toString();

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(null);
    api<{ items: Call[]; nextCursor: string | null }>(
      'GET',
      tenantPath(`/calls?${qs}&limit=50`),
    ).then(
      (page) => {
        if (!current) return;
        setCalls(page.items);
        setCursor(page.nextCursor);
        setLoading(false);
      },
      (err: Error) => current && (setError(err), setLoading(false)),
    );
    return () => {
      current = false;
    };
  }, [qs]);

  // New calls appear as they ring; a listed call changes in place.
  useEffect(
    () =>
      openStream(
        session,
        tenantPath('/calls/stream'),
        (event, data) => {
          if (event !== 'call') return;
          const call = JSON.parse(data) as Call;
          setCalls((list) => {
            const at = list.findIndex((c) => c.callId === call.callId);
            if (at >= 0) return list.map((c, i) => (i === at ? call : c));
            return matches(call, filters, q) ? [call, ...list] : list;
          });
        },
        setLive,
      ),
    [qs, session],
  );

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api<{ items: Call[]; nextCursor: string | null }>(
        'GET',
        tenantPath(`/calls?${qs}&limit=50&cursor=${encodeURIComponent(cursor)}`),
      );
      setCalls((list) => [...list, ...page.items]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err as Error);
    }
  };

  const apply = (e: Event) => {
    e.preventDefault();
    setFilters(draft);
    const hashQuery = new URLSearchParams(
      Object.entries(draft).filter(([, v]) => v) as [string, string][],
    ).toString();
    history.replaceState(null, '', `#/calls${hashQuery ? `?${hashQuery}` : ''}`);
  };

  const exportCsv = () => {
    const period = new URLSearchParams(q);
    if (!period.has('since'))
      period.set('since', new Date(Date.now() - 30 * 86_400_000).toISOString());
    if (!period.has('until')) period.set('until', new Date().toISOString());
    download(session, tenantPath(`/calls/export.csv?${period}`), 'calls.csv').catch((err: Error) =>
      setError(err),
    );
  };

  const set = (name: keyof Filters) => (value: string) =>
    setDraft((d) => ({ ...d, [name]: value }));
  const options = (prefix: string, values: string[]) =>
    values.map((v) => ({ value: v, label: label(t, prefix, v) }));

  return (
    <>
      <div class="title-row">
        <h1>{t('calls.title')}</h1>
        <span class={`live ${live ? 'on' : 'off'}`} role="status" aria-live="polite">
          {live ? t('calls.live') : t('calls.offline')}
        </span>
      </div>
      <details open={FILTERS.some((f) => filters[f])}>
        <summary>{t('calls.filters')}</summary>
        <form class="filters" onSubmit={apply}>
          <label for="f-from">
            {t('common.from')}
            <input
              id="f-from"
              type="date"
              value={draft.from}
              onInput={(e) => set('from')(e.currentTarget.value)}
            />
          </label>
          <label for="f-to">
            {t('common.to')}
            <input
              id="f-to"
              type="date"
              value={draft.to}
              onInput={(e) => set('to')(e.currentTarget.value)}
            />
          </label>
          <label for="f-extension">
            {t('calls.extension')}
            <input
              id="f-extension"
              value={draft.extension}
              maxLength={64}
              onInput={(e) => set('extension')(e.currentTarget.value.trim())}
            />
          </label>
          <label for="f-line">
            {t('calls.line')}
            <input
              id="f-line"
              value={draft.line}
              maxLength={32}
              placeholder="+74957654321"
              onInput={(e) => set('line')(e.currentTarget.value.trim())}
            />
          </label>
          <Select
            id="f-direction"
            labelKey="calls.direction"
            value={draft.direction}
            onChange={set('direction')}
            options={options('dir', ['inbound', 'outbound', 'internal'])}
          />
          <Select
            id="f-result"
            labelKey="calls.result"
            value={draft.result}
            onChange={set('result')}
            options={options('result', ['answered', 'missed', 'busy', 'failed', 'cancelled'])}
          />
          <Select
            id="f-action"
            labelKey="calls.action"
            value={draft.action}
            onChange={set('action')}
            options={['pop', 'hangup', 'lead', 'log', 'recording'].map((v) => ({
              value: v,
              label: v,
            }))}
          />
          <Select
            id="f-action-status"
            labelKey="calls.actionStatus"
            value={draft.actionStatus}
            onChange={set('actionStatus')}
            options={options('status', ['pending', 'done', 'failed', 'skipped'])}
          />
          <div class="actions">
            <button type="submit">{t('common.apply')}</button>
            <button type="button" class="secondary outline" onClick={exportCsv}>
              {t('calls.export')}
            </button>
          </div>
        </form>
      </details>
      <ErrorBox error={error} />
      <Loading when={loading} />
      {!loading && calls.length === 0 && <p>{t('calls.empty')}</p>}
      {calls.length > 0 && (
        <div class="table-wrap">
          <table class="striped" data-testid="calls">
            <thead>
              <tr>
                <th scope="col">{t('calls.started')}</th>
                <th scope="col" class="hide-phone">
                  {t('calls.direction')}
                </th>
                <th scope="col">{t('calls.fromTo')}</th>
                <th scope="col" class="hide-phone">
                  {t('calls.agent')}
                </th>
                <th scope="col">{t('calls.result')}</th>
                <th scope="col" class="hide-phone">
                  {t('calls.duration')}
                </th>
              </tr>
            </thead>
            <tbody>
              {calls.map((c) => (
                <tr key={c.callId} data-call-id={c.callId}>
                  <td>
                    <a
                      href={`#/calls/${encodeURIComponent(c.callId)}`}
                      aria-label={t('calls.open', { id: c.callId })}
                    >
                      {formatTime(c.startedAt, zone, lang)}
                    </a>
                  </td>
                  <td class="hide-phone">{label(t, 'dir', c.direction)}</td>
                  <td>
                    {party(c, 'from')} → {party(c, 'to')}
                  </td>
                  <td class="hide-phone">
                    {c.answeredBy ?? c.extension ?? (c.ringing.length ? c.ringing.join(', ') : '—')}
                  </td>
                  <td>
                    {c.result ? (
                      <Badge value={c.result} prefix="result" />
                    ) : (
                      <span>{c.status}</span>
                    )}
                    {c.lastError && (
                      <small class="block tone-bad" title={c.lastError}>
                        ⚠ {c.lastError.slice(0, 80)}
                      </small>
                    )}
                  </td>
                  <td class="hide-phone">{formatDuration(c.duration)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" class="secondary" onClick={() => void more()}>
          {t('calls.more')}
        </button>
      )}
    </>
  );
}

/** Whether some CRM action of the call is in `status`. */
function hasAction(call: CallDetail | undefined, status: string): boolean {
  return (call?.integrations ?? []).some((i) =>
    Object.values(i.actions).some((a) => a.status === status),
  );
}

/** A call: its facts, recording, events and each CRM action, with a retry for failed ones. */
export function CallPage({ callId }: { callId: string }) {
  const t = useT();
  const lang = useLang();
  const { api, tenantPath, tenant, session } = useApp();
  const zone = tenant?.timezone ?? 'UTC';
  const path = tenantPath(`/calls/${encodeURIComponent(callId)}`);
  const call = useLoad(() => api<CallDetail>('GET', path), path);
  const [notice, setNotice] = useState<string | null>(null);
  const retrying = useAction();
  const { reload } = call;

  // The call changes while it is open: its actions run, fail, are retried.
  useEffect(
    () =>
      openStream(
        session,
        tenantPath('/calls/stream'),
        (event, data) => {
          if (event === 'call' && (JSON.parse(data) as Call).callId === callId) reload();
        },
        () => undefined,
      ),
    [callId, session],
  );

  const c = call.data;
  // A CRM action's state changes without the call changing (no stream event): while one is
  // pending, the page reads the call again every second and a half.
  const pending = hasAction(c, 'pending');
  useEffect(() => {
    if (!pending || call.loading) return;
    const timer = setTimeout(reload, 1500);
    return () => clearTimeout(timer);
  }, [pending, call.loading, call.data]);
  const failed = hasAction(c, 'failed');
  const retry = () =>
    retrying.run(async () => {
      const reply = await api<{ requeued: number }>('POST', `${path}/retry`, {});
      setNotice(t('call.requeued', { n: reply.requeued }));
      reload();
    });

  return (
    <>
      <p>
        <a href="#/calls">← {t('call.back')}</a>
      </p>
      <h1>{t('call.title', { id: callId })}</h1>
      <ErrorBox error={call.error} />
      <Loading when={call.loading && !c} />
      {c && (
        <>
          <dl class="facts">
            <dt>{t('calls.direction')}</dt>
            <dd>{label(t, 'dir', c.direction)}</dd>
            <dt>{t('calls.fromTo')}</dt>
            <dd>
              {party(c, 'from')} → {party(c, 'to')}
            </dd>
            <dt>{t('calls.agent')}</dt>
            <dd>{c.answeredBy ?? c.extension ?? '—'}</dd>
            <dt>{t('call.ringing')}</dt>
            <dd>{c.ringing.length ? c.ringing.join(', ') : '—'}</dd>
            <dt>{t('calls.result')}</dt>
            <dd data-testid="call-result">
              {c.result ? <Badge value={c.result} prefix="result" /> : c.status}
            </dd>
            <dt>{t('calls.started')}</dt>
            <dd>{formatTime(c.startedAt, zone, lang)}</dd>
            <dt>{t('call.answeredAt')}</dt>
            <dd>{formatTime(c.answeredAt, zone, lang)}</dd>
            <dt>{t('call.endedAt')}</dt>
            <dd>{formatTime(c.endedAt, zone, lang)}</dd>
            <dt>{t('calls.duration')}</dt>
            <dd>{formatDuration(c.duration)}</dd>
            {c.lastError && (
              <>
                <dt>{t('call.error')}</dt>
                <dd class="tone-bad">{c.lastError}</dd>
              </>
            )}
          </dl>
          <h2>{t('call.recording')}</h2>
          {c.recordingLink ? (
            <audio controls preload="none" src={c.recordingLink} aria-label={t('call.recording')} />
          ) : (
            <p>{t('call.noRecording')}</p>
          )}
          <h2>{t('call.crm')}</h2>
          {(c.integrations ?? []).length === 0 && <p>{t('call.noActions')}</p>}
          {(c.integrations ?? []).map((i) => (
            <div class="table-wrap" key={i.integrationId}>
              <table data-testid={`actions-${i.integrationId}`}>
                <caption>{i.connector}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('calls.action')}</th>
                    <th scope="col">{t('common.status')}</th>
                    <th scope="col">{t('call.attempts')}</th>
                    <th scope="col">{t('call.lastError')}</th>
                    <th scope="col">{t('call.externalId')}</th>
                    <th scope="col">{t('call.updated')}</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(i.actions).map(([name, a]) => (
                    <tr key={name} data-action={name}>
                      <th scope="row">{name}</th>
                      <td>
                        <Badge value={a.status} />
                      </td>
                      <td>{a.attempts}</td>
                      <td class="wrap">{a.lastError ?? '—'}</td>
                      <td>{a.externalId ?? '—'}</td>
                      <td>{formatTime(a.updatedAt, zone, lang)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
          {failed && (
            <button
              type="button"
              onClick={() => void retry()}
              aria-busy={retrying.busy}
              disabled={retrying.busy}
            >
              {t('call.retry')}
            </button>
          )}
          <Notice text={notice} />
          <ErrorBox error={retrying.error} />
          <h2>{t('call.timeline')}</h2>
          <ol class="timeline">
            {c.events.map((e) => (
              <li key={e.id}>
                <time dateTime={e.at}>{formatTime(e.at, zone, lang)}</time> <code>{e.type}</code>
                {e.extension && <span> · {e.extension}</span>}
                <small class="muted">
                  {' '}
                  ({t('call.received')} {formatTime(e.receivedAt, zone, lang)})
                </small>
              </li>
            ))}
          </ol>
        </>
      )}
    </>
  );
}
