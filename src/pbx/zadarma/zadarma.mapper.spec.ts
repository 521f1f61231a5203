import { BadRequestException } from '@nestjs/common';
import {
  dispositionToResult,
  eventId,
  mapNotification,
  MapContext,
  notificationSkewProblem,
  recordingEvent,
  wallClockToUtc,
} from './zadarma.mapper';
import { parseNotification, ZadarmaFields } from './zadarma.dto';

const CTX: MapContext = {
  timezone: 'Europe/Moscow',
  defaultCountry: 'RU',
  receivedAt: new Date('2024-05-14T07:16:40.000Z'),
};
const CALL = {
  call_start: '2024-05-14 10:15:02',
  pbx_call_id: 'in_ae6b03b3b0765d127ec0b739209346bbc4f0d52d',
  caller_id: '79161234567',
  called_did: '84951234567',
};

function map(fields: ZadarmaFields, ctx: MapContext = CTX) {
  return mapNotification(parseNotification(fields), ctx, fields);
}

function badRequest(fields: ZadarmaFields): string {
  try {
    parseNotification(fields);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    return (err as BadRequestException).message;
  }
  throw new Error('expected a 400');
}

describe('wallClockToUtc', () => {
  it('converts a Moscow wall-clock time (UTC+3, no DST) to UTC', () => {
    expect(wallClockToUtc('2024-05-14 10:15:02', 'Europe/Moscow')).toBe('2024-05-14T07:15:02.000Z');
  });

  it('follows daylight saving time of the zone', () => {
    expect(wallClockToUtc('2024-01-15 12:00:00', 'Europe/Berlin')).toBe('2024-01-15T11:00:00.000Z');
    expect(wallClockToUtc('2024-07-15 12:00:00', 'Europe/Berlin')).toBe('2024-07-15T10:00:00.000Z');
    expect(wallClockToUtc('2024-07-15 12:00:00', 'America/New_York')).toBe(
      '2024-07-15T16:00:00.000Z',
    );
    // 02:30 does not exist on 2024-03-31 in Berlin: it is read as 03:30 CEST.
    expect(wallClockToUtc('2024-03-31 02:30:00', 'Europe/Berlin')).toBe('2024-03-31T01:30:00.000Z');
    // 02:30 happens twice on 2024-10-27; the first one (+02:00) is taken.
    expect(wallClockToUtc('2024-10-27 02:30:00', 'Europe/Berlin')).toBe('2024-10-27T00:30:00.000Z');
  });

  it('handles zones east of UTC across midnight and UTC itself', () => {
    expect(wallClockToUtc('2024-01-01 01:00:00', 'Asia/Vladivostok')).toBe(
      '2023-12-31T15:00:00.000Z',
    );
    expect(wallClockToUtc('2024-02-29 23:59:59', 'UTC')).toBe('2024-02-29T23:59:59.000Z');
  });

  it('refuses impossible dates', () => {
    expect(() => wallClockToUtc('2024-02-30 10:00:00', 'UTC')).toThrow(/not a valid date/);
    expect(() => wallClockToUtc('2024-05-14 24:00:00', 'UTC')).toThrow(/not a valid date/);
    expect(() => wallClockToUtc('14.05.2024 10:00', 'UTC')).toThrow(/YYYY-MM-DD/);
  });
});

describe('dispositionToResult', () => {
  it.each([
    ['answered', 'answered'],
    ['busy', 'busy'],
    ['cancel', 'cancelled'],
    ['no answer', 'missed'],
    ['failed', 'failed'],
    ['call failed', 'failed'],
    ['no money', 'failed'],
    ['unallocated number', 'failed'],
    ['no limit', 'failed'],
    ['no day limit', 'failed'],
    ['line limit', 'failed'],
    ['no money, no limit', 'failed'],
    ['Something New', 'failed'],
  ])('maps %s to %s', (disposition, result) => {
    expect(dispositionToResult(disposition)).toBe(result);
  });
});

describe('parseNotification', () => {
  it('names every missing required field of the event', () => {
    const msg = badRequest({ event: 'NOTIFY_END', pbx_call_id: 'in_1' });
    for (const field of ['call_start', 'caller_id', 'called_did', 'duration', 'disposition']) {
      expect(msg).toContain(`${field} is required`);
    }
    expect(badRequest({ event: 'NOTIFY_RECORD', pbx_call_id: 'in_1' })).toMatch(
      /call_id_with_rec is required/,
    );
    expect(badRequest({ ...CALL, event: 'NOTIFY_INTERNAL' })).toMatch(/internal is required/);
    expect(
      badRequest({ event: 'NOTIFY_OUT_START', pbx_call_id: 'out_1', call_start: CALL.call_start }),
    ).toMatch(/internal is required.*destination is required/);
  });

  it('refuses an unknown event, a bad time, a bad duration and repeated fields', () => {
    expect(badRequest({ ...CALL, event: 'NOTIFY_PARTY' })).toMatch(/event must be one of/);
    expect(badRequest({ ...CALL })).toMatch(/event must be one of/);
    expect(badRequest({ ...CALL, event: 'NOTIFY_START', call_start: 'yesterday' })).toMatch(
      /call_start must be a "YYYY-MM-DD HH:MM:SS" time/,
    );
    expect(
      badRequest({ ...CALL, event: 'NOTIFY_END', duration: '-3', disposition: 'answered' }),
    ).toMatch(/duration must be a whole number/);
    expect(badRequest({ ...CALL, event: 'NOTIFY_START', caller_id: ['1', '2'] })).toMatch(
      /caller_id must be a string/,
    );
  });

  it('accepts and drops fields it does not know (Zadarma adds fields over time)', () => {
    const n = parseNotification({ ...CALL, event: 'NOTIFY_START', dst_e164: '1', brand_new: 'x' });
    expect(n).not.toHaveProperty('brand_new');
    expect(n).not.toHaveProperty('dst_e164');
    expect(n.pbx_call_id).toBe(CALL.pbx_call_id);
  });
});

describe('mapNotification', () => {
  it('NOTIFY_START starts an inbound call at call_start in UTC, numbers in E.164', () => {
    const out = map({ ...CALL, event: 'NOTIFY_START' });
    expect(out.events).toEqual([
      {
        id: `zd:start:${CALL.pbx_call_id}`,
        callId: CALL.pbx_call_id,
        type: 'call.started',
        direction: 'inbound',
        at: '2024-05-14T07:15:02.000Z',
        from: '+79161234567',
        to: '+74951234567',
      },
    ]);
    expect(out.route).toEqual({
      callId: CALL.pbx_call_id,
      from: '79161234567',
      to: '84951234567',
    });
  });

  it('keeps a hidden caller without a number and asks no routing question for an empty one', () => {
    const anonymous = map({ ...CALL, event: 'NOTIFY_START', caller_id: 'anonymous' });
    expect(anonymous.events[0]).not.toHaveProperty('from');
    expect(anonymous.route?.from).toBe('anonymous');
    const empty = map({ ...CALL, event: 'NOTIFY_START', caller_id: '' });
    expect(empty.route).toBeUndefined();
  });

  it('NOTIFY_INTERNAL rings the extension, one event per extension', () => {
    const a = map({ ...CALL, event: 'NOTIFY_INTERNAL', internal: '101' });
    const b = map({ ...CALL, event: 'NOTIFY_INTERNAL', internal: '102' });
    expect(a.events[0]).toMatchObject({
      type: 'call.ringing',
      direction: 'inbound',
      extension: '101',
      at: CTX.receivedAt.toISOString(),
    });
    expect(a.events[0].id).not.toBe(b.events[0].id);
    expect(a.route).toBeUndefined();
  });

  it('NOTIFY_ANSWER is answered by internal, else by destination: an extension or a mobile', () => {
    const byInternal = map({
      ...CALL,
      event: 'NOTIFY_ANSWER',
      destination: '79990001122',
      internal: '103',
    });
    expect(byInternal.events[0]).toMatchObject({ type: 'call.answered', extension: '103' });
    const byDestination = map({ ...CALL, event: 'NOTIFY_ANSWER', destination: '104' });
    expect(byDestination.events[0]).toMatchObject({ type: 'call.answered', extension: '104' });
    // Forwarded to a mobile: the number that answered, which the agent map turns into its agent.
    const byMobile = map({ ...CALL, event: 'NOTIFY_ANSWER', destination: '89990001122' });
    expect(byMobile.events[0]).toMatchObject({ type: 'call.answered', extension: '+79990001122' });
  });

  it('NOTIFY_END carries result, duration, extension and the recording announcement', () => {
    const out = map({
      ...CALL,
      event: 'NOTIFY_END',
      internal: '101',
      duration: '95',
      disposition: 'answered',
      status_code: '16',
      is_recorded: '1',
      call_id_with_rec: '1715670902.123456',
    });
    expect(out.events).toEqual([
      {
        id: `zd:end:${CALL.pbx_call_id}`,
        callId: CALL.pbx_call_id,
        type: 'call.ended',
        direction: 'inbound',
        at: CTX.receivedAt.toISOString(),
        result: 'answered',
        duration: 95,
        extension: '101',
        recorded: true,
        from: '+79161234567',
        to: '+74951234567',
      },
    ]);
    // The recording is referenced already, in case NOTIFY_RECORD never comes.
    expect(out.recording).toEqual({
      pbxCallId: CALL.pbx_call_id,
      callIdWithRec: '1715670902.123456',
    });
    const missed = map({
      ...CALL,
      event: 'NOTIFY_END',
      duration: '0',
      disposition: 'no answer',
      is_recorded: '0',
    });
    expect(missed.events[0]).toMatchObject({ result: 'missed', duration: 0 });
    expect(missed.events[0]).not.toHaveProperty('recorded');
  });

  it('never stamps an event before the call started (PBX clock ahead of ours)', () => {
    const early = { ...CTX, receivedAt: new Date('2024-05-14T07:15:00.000Z') };
    const out = map({ ...CALL, event: 'NOTIFY_INTERNAL', internal: '101' }, early);
    expect(out.events[0].at).toBe('2024-05-14T07:15:02.000Z');
  });

  it('OUT events make an outbound call of the extension to the destination', () => {
    const fields = {
      event: 'NOTIFY_OUT_START',
      call_start: '2024-05-14 11:00:10',
      pbx_call_id: 'out_77aa',
      internal: '101',
      destination: '89161234567',
    };
    expect(map(fields).events).toEqual([
      {
        id: 'zd:out_start:out_77aa',
        callId: 'out_77aa',
        type: 'call.started',
        direction: 'outbound',
        at: '2024-05-14T08:00:10.000Z',
        extension: '101',
        from: '101',
        to: '+79161234567',
      },
    ]);
    const end = map({
      ...fields,
      event: 'NOTIFY_OUT_END',
      caller_id: '74951234567',
      duration: '42',
      disposition: 'busy',
      is_recorded: '0',
    });
    expect(end.events[0]).toMatchObject({
      id: 'zd:out_end:out_77aa',
      type: 'call.ended',
      direction: 'outbound',
      result: 'busy',
      duration: 42,
      extension: '101',
      to: '+79161234567',
    });
    const toColleague = map({ ...fields, destination: '102' });
    expect(toColleague.events[0]).toMatchObject({ direction: 'internal', to: '102' });
  });

  it('NOTIFY_RECORD asks for the recording and stores nothing yet', () => {
    const out = map({
      event: 'NOTIFY_RECORD',
      pbx_call_id: CALL.pbx_call_id,
      call_id_with_rec: '1715670902.123456',
    });
    expect(out.events).toEqual([]);
    expect(out.recording).toEqual({
      pbxCallId: CALL.pbx_call_id,
      callIdWithRec: '1715670902.123456',
    });
    const ev = recordingEvent(out.recording!, 'https://x.example/r.mp3', CTX.receivedAt);
    expect(ev).toEqual({
      id: `zd:record:${CALL.pbx_call_id}:1715670902.123456`,
      callId: CALL.pbx_call_id,
      type: 'call.recording',
      at: CTX.receivedAt.toISOString(),
      recordingUrl: 'https://x.example/r.mp3',
    });
  });

  it('NOTIFY_IVR is routed again and told apart by its IVR result', () => {
    const a = map({ ...CALL, event: 'NOTIFY_IVR', 'wait_dtmf[digits]': '1' });
    const b = map({ ...CALL, event: 'NOTIFY_IVR', 'wait_dtmf[digits]': '2' });
    const again = map({ ...CALL, event: 'NOTIFY_IVR', 'wait_dtmf[digits]': '1' });
    expect(a.route).toBeDefined();
    expect(a.events[0].type).toBe('call.started');
    expect(a.events[0].id).not.toBe(b.events[0].id);
    expect(a.events[0].id).toBe(again.events[0].id);
  });

  it('NOTIFY_INTERNAL_END is accepted without an event', () => {
    expect(map({ ...CALL, event: 'NOTIFY_INTERNAL_END', internal: '101' }).events).toEqual([]);
  });

  it('gives the same ids to a re-delivered notification whatever time it arrives', () => {
    const fields = { ...CALL, event: 'NOTIFY_END', duration: '5', disposition: 'busy' };
    const first = map(fields);
    const later = map(fields, { ...CTX, receivedAt: new Date('2024-05-14T09:00:00Z') });
    expect(later.events[0].id).toBe(first.events[0].id);
  });
});

describe('eventId', () => {
  it('stays within the hub id rule (1-128 printable characters) for any input', () => {
    expect(eventId('internal', 'in_1', '101')).toBe('zd:internal:in_1:101');
    const long = eventId('answer', 'in_'.padEnd(100, 'a'), 'x'.repeat(64));
    expect(long).toMatch(/^zd:answer:[0-9a-f]{40}$/);
    const spaced = eventId('answer', 'in_1', '+7 916');
    expect(spaced).toMatch(/^[\x21-\x7e]{1,128}$/);
    expect(spaced).not.toBe(eventId('answer', 'in_1', '+7 917'));
  });
});

describe('notificationSkewProblem (replays)', () => {
  // CALL started 10:15:02 Moscow = 07:15:02 UTC.
  const at = (iso: string) => ({ timezone: 'Europe/Moscow', receivedAt: new Date(iso) });
  const start = parseNotification({ event: 'NOTIFY_START', ...CALL });
  const end = (duration: string) =>
    parseNotification({
      event: 'NOTIFY_END',
      ...CALL,
      duration,
      disposition: 'answered',
      is_recorded: '0',
    });

  it('takes a notification up to 2 h either side of the hub clock, in the account time zone', () => {
    expect(notificationSkewProblem(start, at('2024-05-14T07:15:03Z'))).toBeNull();
    expect(notificationSkewProblem(start, at('2024-05-14T09:15:02Z'))).toBeNull();
    expect(notificationSkewProblem(start, at('2024-05-14T05:15:02Z'))).toBeNull();
  });

  it('refuses an old or future one, naming call_start and the time zone', () => {
    const old = notificationSkewProblem(start, at('2024-05-14T09:15:03Z'));
    expect(old).toMatch(/^call_start must be within 2 h of the hub's clock/);
    expect(old).toContain('"2024-05-14 10:15:02" in Europe/Moscow is 2.0 h in the past');
    expect(notificationSkewProblem(start, at('2024-05-14T05:15:01Z'))).toMatch(/in the future/);
    // Read in the wrong zone (UTC instead of Moscow) the same call is 3 h off.
    expect(
      notificationSkewProblem(start, {
        timezone: 'UTC',
        receivedAt: new Date('2024-05-14T07:15:03Z'),
      }),
    ).toMatch(/3\.0 h in the future/);
  });

  it('measures an end notification from the end of the call', () => {
    // A 3-hour call ends 3 h after its call_start.
    expect(notificationSkewProblem(end('10800'), at('2024-05-14T10:16:00Z'))).toBeNull();
    expect(notificationSkewProblem(end('60'), at('2024-05-14T10:16:00Z'))).toMatch(
      /\(plus duration\)/,
    );
  });

  it('has nothing to check on NOTIFY_RECORD (no time; a repeat is a duplicate)', () => {
    const record = parseNotification({
      event: 'NOTIFY_RECORD',
      pbx_call_id: CALL.pbx_call_id,
      call_id_with_rec: '1715670902.123456',
    });
    expect(notificationSkewProblem(record, at('2030-01-01T00:00:00Z'))).toBeNull();
  });
});
