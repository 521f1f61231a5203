import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { Stats, StatsFigures } from '../api';
import { useApp, useLoad } from '../app-context';
import { ErrorBox, Loading } from '../components';
import { formatDuration, formatPercent, localDate, nextDate, startOfLocalDay } from '../format';
import { MessageKey, useT } from '../i18n';

type Group = Stats['groupBy'];
const GROUPS: Group[] = ['agent', 'line', 'day', 'hour'];

const COLUMNS: { key: keyof StatsFigures; label: MessageKey; show(v: StatsFigures): string }[] = [
  { key: 'inbound', label: 'stats.inbound', show: (v) => String(v.inbound) },
  { key: 'outbound', label: 'stats.outbound', show: (v) => String(v.outbound) },
  { key: 'answered', label: 'stats.answered', show: (v) => String(v.answered) },
  { key: 'missed', label: 'stats.missed', show: (v) => String(v.missed) },
  { key: 'answerRate', label: 'stats.answerRate', show: (v) => formatPercent(v.answerRate) },
  { key: 'avgWaitS', label: 'stats.avgWait', show: (v) => formatDuration(v.avgWaitS) },
  { key: 'avgTalkS', label: 'stats.avgTalk', show: (v) => formatDuration(v.avgTalkS) },
  { key: 'talkS', label: 'stats.talk', show: (v) => formatDuration(v.talkS) },
  { key: 'calledBack', label: 'stats.calledBack', show: (v) => String(v.calledBack) },
];

/** Per manager, per line and over time, for a period of the tenant's local days. */
export function StatsPage() {
  const t = useT();
  const { api, tenantPath, tenant } = useApp();
  const zone = tenant?.timezone ?? 'UTC';
  const today = localDate(zone);
  const [draft, setDraft] = useState({
    from: localDate(zone, -6),
    to: today,
    groupBy: 'agent' as Group,
  });
  const [period, setPeriod] = useState(draft);
  const key = `${period.from}|${period.to}|${period.groupBy}`;
  const stats = useLoad(() => {
    const q = new URLSearchParams({
      from: startOfLocalDay(period.from, zone),
      to: startOfLocalDay(nextDate(period.to), zone),
      groupBy: period.groupBy,
    });
    return api<Stats>('GET', tenantPath(`/stats?${q}`));
  }, key);
  const preset = (days: number) => {
    const next = { ...draft, from: localDate(zone, -(days - 1)), to: today };
    setDraft(next);
    setPeriod(next);
  };
  const s = stats.data;
  return (
    <>
      <h1>{t('stats.title')}</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setPeriod(draft);
        }}
      >
        <label for="s-from">
          {t('common.from')}
          <input
            id="s-from"
            type="date"
            required
            value={draft.from}
            max={draft.to}
            onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })}
          />
        </label>
        <label for="s-to">
          {t('common.to')}
          <input
            id="s-to"
            type="date"
            required
            value={draft.to}
            min={draft.from}
            onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })}
          />
        </label>
        <label for="s-group">
          {t('stats.groupBy')}
          <select
            id="s-group"
            value={draft.groupBy}
            onChange={(e) => {
              const next = { ...draft, groupBy: e.currentTarget.value as Group };
              setDraft(next);
              setPeriod(next);
            }}
          >
            {GROUPS.map((g) => (
              <option value={g} key={g}>
                {t(`stats.${g}`)}
              </option>
            ))}
          </select>
        </label>
        <div class="actions">
          <button type="submit">{t('common.apply')}</button>
          <button type="button" class="secondary outline" onClick={() => preset(1)}>
            {t('stats.today')}
          </button>
          <button type="button" class="secondary outline" onClick={() => preset(7)}>
            {t('stats.week')}
          </button>
          <button type="button" class="secondary outline" onClick={() => preset(30)}>
            {t('stats.month')}
          </button>
        </div>
      </form>
      <ErrorBox error={stats.error} />
      <Loading when={stats.loading && !s} />
      {s && s.rows.length === 0 && <p>{t('stats.empty')}</p>}
      {s && s.rows.length > 0 && (
        <>
          <Chart stats={s} title={t('stats.chart', { group: t(`stats.${s.groupBy}`) })} />
          <div class="table-wrap">
            <table class="striped numbers" data-testid="stats">
              <thead>
                <tr>
                  <th scope="col">{t(`stats.${s.groupBy}`)}</th>
                  {COLUMNS.map((c) => (
                    <th scope="col" key={c.key}>
                      {t(c.label)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {s.rows.map((r) => (
                  <tr key={r.key} data-key={r.key}>
                    <th scope="row">{r.name ? `${r.name} (${r.key})` : r.key}</th>
                    {COLUMNS.map((c) => (
                      <td key={c.key} data-column={c.key}>
                        {c.show(r)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr data-key="totals">
                  <th scope="row">{t('stats.totals')}</th>
                  {COLUMNS.map((c) => (
                    <td key={c.key} data-column={c.key}>
                      {c.show(s.totals)}
                    </td>
                  ))}
                </tr>
              </tfoot>
            </table>
          </div>
        </>
      )}
    </>
  );
}

/** Answered and missed calls per row as bars; the table below carries the same figures. */
function Chart({ stats, title }: { stats: Stats; title: string }) {
  const t = useT();
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const labels = stats.rows.map((r) => r.name ?? r.key);
    const xs = labels.map((_, i) => i);
    const bars = uPlot.paths.bars?.({ size: [0.6, 60], gap: 2 });
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 260,
        title,
        scales: { x: { time: false, range: [-0.5, xs.length - 0.5] } },
        axes: [
          {
            values: (_u, ticks) => ticks.map((i) => (Number.isInteger(i) ? (labels[i] ?? '') : '')),
            splits: () => xs,
          },
          {},
        ],
        series: [
          {},
          { label: t('stats.answered'), stroke: '#1f7a3a', fill: '#1f7a3acc', paths: bars },
          { label: t('stats.missed'), stroke: '#b3261e', fill: '#b3261ecc', paths: bars },
        ],
      },
      [xs, stats.rows.map((r) => r.answered), stats.rows.map((r) => r.missed)],
      el,
    );
    const resize = () => plot.setSize({ width: width(), height: 260 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [stats, title]);
  return <figure class="chart" ref={box} role="img" aria-label={title} />;
}
