import { validateDto } from '../common/validation';
import { IngestBatchDto, IngestEventDto } from './ingest.dto';
import { quickEvents } from './ingest-quick-check';

const now = new Date().toISOString();
const valid: Record<string, unknown>[] = [
  {
    id: 'e-1',
    callId: 'c-1',
    type: 'call.ringing',
    direction: 'internal',
    from: '101',
    to: '102',
    extension: '102',
    at: now,
  },
  {
    id: 'e-2',
    callId: 'c-1',
    type: 'call.started',
    direction: 'inbound',
    from: '+74951234567',
    to: '84957654321',
    at: '2026-11-25T10:00:00+03:00',
  },
  {
    id: 'e-3',
    callId: 'c-1',
    type: 'call.answered',
    extension: '+79161234567',
    at: '2026-11-25T10:00:05.123Z',
  },
  {
    id: 'e-4',
    callId: 'c-1',
    type: 'call.ended',
    result: 'answered',
    duration: 60,
    recorded: true,
    at: '2026-11-25T07:01:05Z',
  },
  {
    id: 'e-5',
    callId: 'c-1',
    type: 'call.transferred',
    extension: '103',
    at: '2026-11-25T10:02:00+0300',
  },
  {
    id: 'e-6',
    callId: 'c-2',
    type: 'call.ended',
    result: 'missed',
    duration: 0,
    recorded: false,
    at: now,
  },
];

/** Values that break some constraint of some field, or sit on its edge. */
const odd: unknown[] = [
  null,
  '',
  ' ',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(128),
  'x'.repeat(129),
  'a b',
  '😀'.repeat(32),
  '😀'.repeat(33),
  '+7 916',
  '*#._@-',
  0,
  -1,
  1.5,
  604800,
  604801,
  '60',
  true,
  'true',
  [],
  {},
  ['101'],
  'call.ended',
  'call.recording',
  'inbound',
  'busy',
  '1999-12-31T23:59:59Z',
  '2026-02-29T10:00:00Z',
  '2026-11-25T10:00:00',
  '2026-11-25 10:00:00Z',
  '2026-11-25T24:00:00Z',
  '2099-01-01T00:00:00Z',
  'https://pbx.example/rec.mp3',
];

/** Every field of every valid event set to every odd value, removed, and joined by a stranger. */
function* mutations(): Generator<Record<string, unknown>> {
  for (const base of valid) {
    yield base;
    for (const field of [...Object.keys(base), 'recordingUrl', 'extension', 'result', 'unknown']) {
      const { [field]: _removed, ...without } = base;
      yield without;
      for (const value of odd) yield { ...base, [field]: value };
    }
  }
}

/** What class-validator makes of a post: its events' fields, or its error. */
function byDto(body: Record<string, unknown>): Record<string, unknown>[] | string {
  try {
    const dtos =
      'events' in body
        ? validateDto(IngestBatchDto, body).events
        : [validateDto(IngestEventDto, body)];
    return dtos.map((d) => ({ ...d }));
  } catch (err) {
    return (err as Error).message;
  }
}

describe('quickEvents', () => {
  it('takes only what the DTO takes, with the same values', () => {
    let quick = 0;
    let total = 0;
    for (const body of mutations()) {
      total++;
      const events = quickEvents(body);
      if (events === null) continue;
      quick++;
      expect({ body, result: byDto(body) }).toEqual({
        body,
        result: events.map((e) => ({ ...e })),
      });
    }
    // The mutations break most events; the valid ones and the harmless changes pass quickly.
    expect(total).toBeGreaterThan(2000);
    expect(quick).toBeGreaterThan(30);
  });

  it('takes the common events and batches of them without the DTO check', () => {
    for (const ev of valid) expect(quickEvents(ev)).toEqual([ev]);
    expect(quickEvents({ events: valid })).toEqual(valid);
  });

  it('leaves to the DTO check what it does not know, valid or not', () => {
    const [ringing] = valid;
    for (const body of [
      { ...ringing, recordingUrl: 'https://pbx.example/rec.mp3' },
      { ...ringing, direction: null },
      { ...ringing, note: 'x' },
      { ...ringing, type: 'call.transferred', extension: undefined },
      { events: [] },
      { events: Array.from({ length: 501 }, () => ringing) },
      { events: [ringing], extra: 1 },
      { events: [ringing, { ...ringing, at: 'soon' }] },
      [ringing],
      Object.assign(Object.create(null) as object, ringing),
    ])
      expect(quickEvents(body)).toBeNull();
  });

  it('sees a bad event in a batch as the DTO does', () => {
    for (const body of mutations()) {
      const batch = { events: [valid[0], body] };
      if (quickEvents(batch) !== null) expect(byDto(batch)).not.toEqual(expect.any(String));
    }
  });
});
