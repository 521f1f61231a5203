import { localHours, zoneOffsets } from './stats.service';

/** The local hour as Intl gives it for one instant: what localHours must agree with. */
function intlHour(timeZone: string, ms: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((x) => x.type === t)?.value;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}`;
}

describe('localHours', () => {
  // Clock changes of an hour both ways, half an hour (Lord Howe), and a zone with none.
  it.each(['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'])(
    'gives the local hour of every quarter hour across the clock changes of 2026 in %s',
    (zone) => {
      for (const [from, to] of [
        ['2026-03-01', '2026-04-15'],
        ['2026-09-25', '2026-11-10'],
      ]) {
        const local = localHours(zone);
        const wrong: string[] = [];
        for (
          let ms = Date.parse(`${from}T00:00:00Z`);
          ms < Date.parse(`${to}T00:00:00Z`);
          ms += 900_000
        ) {
          const want = intlHour(zone, ms);
          if (local(ms) !== want)
            wrong.push(`${new Date(ms).toISOString()}: ${local(ms)} ≠ ${want}`);
        }
        expect(wrong).toEqual([]);
      }
    },
  );

  it.each(['Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kolkata'])(
    'gives the spans of one offset that agree with localHours in %s',
    (zone) => {
      const from = Date.parse('2026-01-01T00:00:00Z');
      const to = Date.parse('2027-01-01T00:00:00Z');
      const spans = zoneOffsets(zone, from, to);
      expect(spans.length).toBe(zone === 'Asia/Kolkata' ? 1 : 3);
      const local = localHours(zone);
      const wrong: string[] = [];
      for (let ms = from; ms < to; ms += 900_000) {
        const span = spans.filter((s) => s.fromS * 1000 <= ms).pop();
        const viaSpan = new Date(ms + (span?.offsetS ?? NaN) * 1000).toISOString().slice(0, 13);
        if (viaSpan !== local(ms)) wrong.push(new Date(ms).toISOString());
      }
      expect(wrong).toEqual([]);
    },
  );
});
