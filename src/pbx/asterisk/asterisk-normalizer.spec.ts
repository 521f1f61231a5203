import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NormalizedEvent } from '../../calls/call-event';
import { foldCall } from '../../calls/call-state';
import { AmiMessage } from './ami-protocol';
import { AsteriskNormalizer } from './asterisk-normalizer';

const FIXTURES = join(__dirname, '../../../test/fixtures/asterisk-ami');
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);

function capture(name: string): Record<string, string>[] {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Record<
    string,
    string
  >[];
}

/** Replays a capture with one simulated second between events (the captures carry no Timestamp). */
function normalize(
  events: Record<string, string>[],
  options: { recordingUrlTemplate?: string } = {},
): { out: NormalizedEvent[]; normalizer: AsteriskNormalizer } {
  let tick = 0;
  const normalizer = new AsteriskNormalizer({
    defaultCountry: 'RU',
    now: () => new Date(T0 + tick * 1000),
    ...options,
  });
  const out: NormalizedEvent[] = [];
  for (const e of events) {
    tick++;
    out.push(...normalizer.push(AmiMessage.fromObject(e)));
  }
  return { out, normalizer };
}

interface Expected {
  direction: string;
  result: string;
  answeredBy: string | null;
  ringing: string[];
  from?: string;
  to?: string;
  /** Who has the call at its end (after transfers), when it differs from answeredBy. */
  extension?: string | null;
  /** Separate consultation calls of an attended transfer. */
  consultations?: number;
}

/** The outcome the fixture README lists for each capture, with the numbers the captures hold. */
const OUTCOMES: Record<string, Expected> = {
  simple_ab_success_a_hangup: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202'],
    from: '201',
    to: '202',
  },
  simple_ab_success_b_hangup: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202'],
  },
  simple_ab_a_cancel: {
    direction: 'internal',
    result: 'cancelled',
    answeredBy: null,
    ringing: ['202'],
  },
  simple_ab_reject: { direction: 'internal', result: 'busy', answeredBy: null, ringing: ['202'] },
  simple_ab_callgroup: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '150010002',
    ringing: ['150010003', '150010002'],
    to: '401',
  },
  simple_ab_callgroup_no_answer: {
    direction: 'internal',
    result: 'missed',
    answeredBy: null,
    ringing: ['150010003', '150010002'],
  },
  simple_a_created_no_answer: {
    direction: 'inbound',
    result: 'failed',
    answeredBy: null,
    ringing: [],
    from: '+31150010001',
  },
  queue_queue_simple: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010002',
    ringing: ['150010002', '150010003'],
    from: '+31150010001',
    to: '+31150010004',
  },
  queue_queue_a_cancel: {
    direction: 'inbound',
    result: 'missed',
    answeredBy: null,
    ringing: ['150010002'],
  },
  'originate_ctd-account-world': {
    direction: 'outbound',
    result: 'answered',
    answeredBy: '201',
    ringing: [],
    from: '201',
    to: '+31260010001',
  },
  'originate_ctd-account-account': {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202'],
    from: '201',
    to: '202',
  },
  simple_ab_dnd: { direction: 'internal', result: 'busy', answeredBy: null, ringing: ['202'] },
  queue_queue_group: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010002',
    ringing: ['150010003', '150010002'],
  },
};

/** Calls forwarded to outside numbers (mobiles), some with a call-acceptance challenge. */
const FORWARDED: Record<string, Expected> = {
  mobile_simple_mobile: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '+31260010001',
    ringing: ['+31260010001'],
    from: '+31150010001',
    to: '+31150010004',
  },
  mobile_acceptance_simple: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '+31260010001',
    ringing: ['+31260010001'],
  },
  // The mobile picked up but never confirmed: the inner dial answered, the caller's did not.
  mobile_acceptance_reject: {
    direction: 'inbound',
    result: 'missed',
    answeredBy: null,
    ringing: ['+31150010001'],
  },
  mobile_acceptance_timeout: {
    direction: 'inbound',
    result: 'missed',
    answeredBy: null,
    ringing: ['+31150010001'],
  },
  // Both mobiles picked up; only +31150010001 confirmed.
  mobile_acceptance_group_pickup: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '+31150010001',
    ringing: ['+31150010002', '+31150010001'],
  },
  mobile_acceptance_group_reject: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '+31150010001',
    ringing: ['+31150010001', '+31150010002'],
  },
  xfer_misc_call_forwarding: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '202',
    ringing: ['150010001', '202'],
  },
  xfer_misc_call_forwarding_to_group: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010003',
    ringing: ['150010001', '150010002', '150010003'],
  },
};

/** A colleague picks up a call ringing elsewhere: by *8 (Pickup) or by SIP Replaces. */
const PICKUPS: Record<string, Expected> = {
  xfer_misc_star_pickup: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '150010003',
    ringing: ['202', '150010003'],
  },
  xfer_misc_sip_pickup: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '150010003',
    ringing: ['202', '150010003'],
  },
};

/**
 * Transfers: the call ends with whoever had it last. A blind or blonde transfer's target has
 * the call only once it answers; a target that does not leaves it with the transferer.
 */
const TRANSFERS: Record<string, Expected> = {
  xfer_blind_abbcac: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
  },
  xfer_blind_abacbc: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
  },
  xfer_blind_a_no_answer: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '202',
  },
  xfer_blind_b_no_answer: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '202',
  },
  xfer_blind_reject: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '202',
  },
  // To a ring group: the member who answers has it, never the group's number.
  xfer_blind_group: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '150010002', '150010003'],
    extension: '150010003',
  },
  xfer_blind_group_no_answer: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '401'],
    extension: '150010001',
  },
  queue_queue_blind_xfer: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '202'],
    extension: '202',
  },
  xfer_attended_abacbc: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
    consultations: 1,
  },
  xfer_attended_abbcac: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
    consultations: 1,
  },
  xfer_attended_abbcac_anon: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '203'],
    extension: '203',
    consultations: 1,
  },
  queue_queue_attn_xfer: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '202'],
    extension: '202',
    consultations: 1,
  },
  'originate_ctd-account-account-xfer-attn-abbcac': {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
    consultations: 1,
  },
  'originate_ctd-account-world-xfer-attn-abacbc': {
    direction: 'outbound',
    result: 'answered',
    answeredBy: '201',
    ringing: ['203'],
    extension: '203',
    consultations: 1,
  },
  // "Blonde": transferred while the target still rang; the target answered afterwards.
  xfer_blonde_abacbc: {
    direction: 'internal',
    result: 'answered',
    answeredBy: '202',
    ringing: ['202', '203'],
    extension: '203',
    consultations: 1,
  },
  xfer_blonde_abbcac: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '202'],
    extension: '202',
    consultations: 1,
  },
  xfer_blonde_group_a: {
    direction: 'outbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010002'],
    extension: '150010002',
    consultations: 1,
  },
  xfer_blonde_group_b: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001', '150010002'],
    extension: '150010002',
    consultations: 1,
  },
  // The target rejected: the call stays with the agent who had it.
  xfer_blonde_reject: {
    direction: 'inbound',
    result: 'answered',
    answeredBy: '150010001',
    ringing: ['150010001'],
    extension: '150010001',
    consultations: 1,
  },
};

describe('AsteriskNormalizer on the recorded captures', () => {
  it.each([
    ...Object.entries(OUTCOMES),
    ...Object.entries(FORWARDED),
    ...Object.entries(PICKUPS),
    ...Object.entries(TRANSFERS),
  ])('%s ends as the README says', (name, expected) => {
    const { out: all, normalizer } = normalize(capture(name));
    const callIds = [...new Set(all.map((e) => e.callId))];
    expect(callIds).toHaveLength(1 + (expected.consultations ?? 0));
    const out = all.filter((e) => e.callId === callIds[0]);
    const call = foldCall(out);
    expect({
      direction: call.direction,
      result: call.result,
      answeredBy: call.answeredBy,
      ringing: call.ringing,
    }).toEqual({
      direction: expected.direction,
      result: expected.result,
      answeredBy: expected.answeredBy,
      ringing: expected.ringing,
    });
    if (expected.from) expect(call.from).toBe(expected.from);
    if (expected.to) expect(call.to).toBe(expected.to);
    if (expected.extension !== undefined) expect(call.extension).toBe(expected.extension);
    expect(call.status).toBe('ended');
    expect(out.filter((e) => e.type === 'call.started')).toHaveLength(1);
    expect(out.filter((e) => e.type === 'call.ended')).toHaveLength(1);
    expect(new Set(out.map((e) => e.id)).size).toBe(out.length);
    // The callId is the Linkedid of the first channel.
    expect(callIds[0]).toBe(capture(name).find((e) => e.Linkedid)?.Linkedid);
    expect(normalizer.activeCalls).toBe(0);
  });

  it('keeps memory bounded: calls that never hang up are forgotten, stalest first, and by age', () => {
    let nowMs = T0;
    const normalizer = new AsteriskNormalizer({
      defaultCountry: 'RU',
      now: () => new Date(nowMs),
      maxCalls: 3,
    });
    const newchannel = (n: number) =>
      AmiMessage.fromObject({
        Event: 'Newchannel',
        Channel: `PJSIP/trunk-0000000${n}`,
        Uniqueid: `170000000${n}.1`,
        Linkedid: `170000000${n}.1`,
        CallerIDNum: '+79161234567',
        Exten: '+74957654321',
        Timestamp: String((T0 + n * 1000) / 1000),
      });
    for (let n = 1; n <= 5; n++) normalizer.push(newchannel(n));
    expect(normalizer.activeCalls).toBe(3);
    nowMs = T0 + 10 * 3600_000;
    expect(normalizer.prune(3600_000)).toBe(3);
    expect(normalizer.activeCalls).toBe(0);
  });

  it('gives a call created and hung up without dialling no ringing and no missed result', () => {
    const { out } = normalize(capture('simple_a_created_no_answer'));
    expect(out.map((e) => e.type)).toEqual(['call.started', 'call.ended']);
    expect(out[1]).toMatchObject({ result: 'failed', duration: 0 });
  });

  it('counts talk seconds from the answer to the last hangup', () => {
    const events = capture('simple_ab_success_a_hangup');
    const { out } = normalize(events);
    const answered = out.find((e) => e.type === 'call.answered')!;
    const ended = out.find((e) => e.type === 'call.ended')!;
    expect(ended.duration).toBe((Date.parse(ended.at) - Date.parse(answered.at)) / 1000);
    expect(ended.duration).toBeGreaterThan(0);
  });

  it('produces the same event ids when the same stream is replayed', () => {
    const events = capture('queue_queue_simple');
    const first = normalize(events).out.map((e) => e.id);
    const again = normalize(events).out.map((e) => e.id);
    expect(again).toEqual(first);
  });

  it('keeps calls apart when captures interleave', () => {
    const a = capture('simple_ab_reject');
    const b = capture('queue_queue_simple');
    const mixed: Record<string, string>[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i]) mixed.push(a[i]);
      if (b[i]) mixed.push(b[i]);
    }
    const { out } = normalize(mixed);
    const byCall = new Map<string, NormalizedEvent[]>();
    for (const e of out) byCall.set(e.callId, [...(byCall.get(e.callId) ?? []), e]);
    expect([...byCall.values()].map((evs) => foldCall(evs).result).sort()).toEqual([
      'answered',
      'busy',
    ]);
  });

  it('uses the Timestamp header for event times when Asterisk sends one', () => {
    const events = capture('simple_ab_reject').map((e, i) => ({
      ...e,
      Timestamp: String(1700000000 + i + 0.25),
    }));
    const { out } = normalize(events);
    expect(out[0].at).toBe(new Date(1700000000250 + 2000).toISOString());
  });
});

describe('AsteriskNormalizer on composed sequences', () => {
  const chan = (
    channel: string,
    uniqueid: string,
    linkedid: string,
    extra: Record<string, string> = {},
  ) => ({ Channel: channel, Uniqueid: uniqueid, Linkedid: linkedid, ...extra });
  const dest = (
    channel: string,
    uniqueid: string,
    linkedid: string,
    extra: Record<string, string> = {},
  ) => ({
    DestChannel: channel,
    DestUniqueid: uniqueid,
    DestLinkedid: linkedid,
    ...extra,
  });

  it('builds a recording link from MIXMONITOR_FILENAME and the source template', () => {
    const L = '1715670902.100';
    const { out } = normalize(
      [
        {
          Event: 'Newchannel',
          ...chan('PJSIP/trunk-00000010', L, L, {
            CallerIDNum: '79161234567',
            Exten: '74951234567',
          }),
        },
        {
          Event: 'VarSet',
          ...chan('PJSIP/trunk-00000010', L, L),
          Variable: 'MIXMONITOR_FILENAME',
          Value: '/var/spool/asterisk/monitor/20240514-rec.wav',
        },
        { Event: 'Newchannel', ...chan('PJSIP/101-00000011', '1715670902.101', L) },
        {
          Event: 'DialBegin',
          ...chan('PJSIP/trunk-00000010', L, L),
          ...dest('PJSIP/101-00000011', '1715670902.101', L),
        },
        {
          Event: 'DialEnd',
          ...chan('PJSIP/trunk-00000010', L, L),
          ...dest('PJSIP/101-00000011', '1715670902.101', L),
          DialStatus: 'ANSWER',
        },
        { Event: 'Hangup', ...chan('PJSIP/101-00000011', '1715670902.101', L), Cause: '16' },
        { Event: 'Hangup', ...chan('PJSIP/trunk-00000010', L, L), Cause: '16' },
      ],
      { recordingUrlTemplate: 'https://pbx.example.com/rec/{file}?call={linkedid}&leg={uniqueid}' },
    );
    const call = foldCall(out);
    expect(call).toMatchObject({
      direction: 'inbound',
      from: '+79161234567',
      to: '+74951234567',
      answeredBy: '101',
      result: 'answered',
      recordingUrl: `https://pbx.example.com/rec/20240514-rec.wav?call=${L}&leg=${L}`,
    });
  });

  it('follows a blind transfer to the new extension', () => {
    const L = '1715670902.100';
    const { out } = normalize([
      {
        Event: 'Newchannel',
        ...chan('PJSIP/trunk-1', L, L, { CallerIDNum: '79161234567', Exten: '74951234567' }),
      },
      { Event: 'Newchannel', ...chan('PJSIP/101-2', 'u2', L) },
      { Event: 'DialBegin', ...chan('PJSIP/trunk-1', L, L), ...dest('PJSIP/101-2', 'u2', L) },
      {
        Event: 'DialEnd',
        ...chan('PJSIP/trunk-1', L, L),
        ...dest('PJSIP/101-2', 'u2', L),
        DialStatus: 'ANSWER',
      },
      {
        Event: 'BlindTransfer',
        Result: 'Success',
        TransfererChannel: 'PJSIP/101-2',
        TransfererUniqueid: 'u2',
        TransfereeChannel: 'PJSIP/trunk-1',
        TransfereeUniqueid: L,
        Extension: '102',
      },
      { Event: 'Hangup', ...chan('PJSIP/101-2', 'u2', L), Cause: '16' },
      { Event: 'Newchannel', ...chan('PJSIP/102-3', 'u3', L) },
      { Event: 'DialBegin', ...chan('PJSIP/trunk-1', L, L), ...dest('PJSIP/102-3', 'u3', L) },
      {
        Event: 'DialEnd',
        ...chan('PJSIP/trunk-1', L, L),
        ...dest('PJSIP/102-3', 'u3', L),
        DialStatus: 'ANSWER',
      },
      { Event: 'Hangup', ...chan('PJSIP/102-3', 'u3', L), Cause: '16' },
      { Event: 'Hangup', ...chan('PJSIP/trunk-1', L, L), Cause: '16' },
    ]);
    expect(new Set(out.map((e) => e.callId))).toEqual(new Set([L]));
    const call = foldCall(out);
    expect(call).toMatchObject({ answeredBy: '101', extension: '102', result: 'answered' });
  });

  it('merges the consultation call of an attended transfer into the original call', () => {
    const L1 = '1715670902.100';
    const L2 = '1715671100.300';
    const { out } = normalize([
      {
        Event: 'Newchannel',
        ...chan('PJSIP/trunk-1', L1, L1, { CallerIDNum: '79161234567', Exten: '74951234567' }),
      },
      { Event: 'Newchannel', ...chan('PJSIP/101-2', 'a2', L1) },
      { Event: 'DialBegin', ...chan('PJSIP/trunk-1', L1, L1), ...dest('PJSIP/101-2', 'a2', L1) },
      {
        Event: 'DialEnd',
        ...chan('PJSIP/trunk-1', L1, L1),
        ...dest('PJSIP/101-2', 'a2', L1),
        DialStatus: 'ANSWER',
      },
      // 101 consults 102 on a second call.
      { Event: 'Newchannel', ...chan('PJSIP/101-3', L2, L2, { CallerIDNum: '101', Exten: '102' }) },
      { Event: 'Newchannel', ...chan('PJSIP/102-4', 'b4', L2) },
      { Event: 'DialBegin', ...chan('PJSIP/101-3', L2, L2), ...dest('PJSIP/102-4', 'b4', L2) },
      {
        Event: 'DialEnd',
        ...chan('PJSIP/101-3', L2, L2),
        ...dest('PJSIP/102-4', 'b4', L2),
        DialStatus: 'ANSWER',
      },
      {
        Event: 'AttendedTransfer',
        Result: 'Success',
        OrigTransfererChannel: 'PJSIP/101-2',
        OrigTransfererUniqueid: 'a2',
        SecondTransfererChannel: 'PJSIP/101-3',
        SecondTransfererUniqueid: L2,
        TransfereeUniqueid: L1,
        TransferTargetChannel: 'PJSIP/102-4',
        TransferTargetUniqueid: 'b4',
        DestType: 'Bridge',
      },
      { Event: 'Hangup', ...chan('PJSIP/101-2', 'a2', L1), Cause: '16' },
      { Event: 'Hangup', ...chan('PJSIP/101-3', L2, L2), Cause: '16' },
      // 102 now carries the original Linkedid.
      { Event: 'BridgeEnter', ...chan('PJSIP/102-4', 'b4', L1) },
      { Event: 'Hangup', ...chan('PJSIP/102-4', 'b4', L1), Cause: '16' },
      { Event: 'Hangup', ...chan('PJSIP/trunk-1', L1, L1), Cause: '16' },
    ]);
    const original = foldCall(out.filter((e) => e.callId === L1));
    expect(original).toMatchObject({
      direction: 'inbound',
      status: 'ended',
      result: 'answered',
      answeredBy: '101',
      extension: '102',
    });
    const consult = foldCall(out.filter((e) => e.callId === L2));
    expect(consult).toMatchObject({ direction: 'internal', status: 'ended', answeredBy: '102' });
    expect(new Set(out.map((e) => e.callId))).toEqual(new Set([L1, L2]));
  });
});

describe('AsteriskNormalizer taking up calls in progress', () => {
  /** The capture cut at its first Hangup: what one instance saw before it crashed. */
  const cut = (events: Record<string, string>[]) =>
    events.findIndex((e) => e.Event === 'Hangup' && e.Channel && !e.Channel.startsWith('Local/'));

  it.each(['simple_ab_success_a_hangup', 'queue_queue_simple', 'mobile_acceptance_simple'])(
    '%s ends the same after a takeover as when followed throughout',
    (name) => {
      const events = capture(name);
      const whole = foldCall(normalize(events).out);
      const at = cut(events);
      const before = normalize(events.slice(0, at)).out;
      const stored = foldCall(before);
      // The channels Asterisk still lists at the takeover: those without a Hangup yet.
      const hungUp = new Set(
        events
          .slice(0, at)
          .filter((e) => e.Event === 'Hangup')
          .map((e) => e.Uniqueid),
      );
      const channels = new Map<string, Record<string, string>>();
      for (const e of events.slice(0, at)) {
        if (e.Uniqueid && e.Channel && !hungUp.has(e.Uniqueid)) {
          channels.set(e.Uniqueid, {
            Event: 'CoreShowChannel',
            Channel: e.Channel,
            Uniqueid: e.Uniqueid,
            Linkedid: e.Linkedid,
          });
        }
      }
      let tick = at;
      const next = new AsteriskNormalizer({
        defaultCountry: 'RU',
        now: () => new Date(T0 + tick * 1000),
      });
      const callId = before[0].callId;
      expect(
        next.adopt(
          {
            callId,
            direction: stored.direction,
            startedAt: stored.startedAt,
            answeredAt: stored.answeredAt,
            extension: stored.extension,
            answeredBy: stored.answeredBy,
            rang: stored.ringing.length,
          },
          [...channels.values()].map((c) => AmiMessage.fromObject(c)),
        ),
      ).toBe(true);
      const after: NormalizedEvent[] = [];
      for (const e of events.slice(at)) {
        tick++;
        after.push(...next.push(AmiMessage.fromObject(e)));
      }
      expect(after.filter((e) => e.type === 'call.started')).toEqual([]);
      const ended = after.filter((e) => e.type === 'call.ended');
      expect(ended).toHaveLength(1);
      expect(ended[0].id).toBe(`${callId}:ended`);
      const call = foldCall([...before, ...after]);
      expect({
        result: call.result,
        answeredBy: call.answeredBy,
        extension: call.extension,
        duration: call.duration,
      }).toEqual({
        result: whole.result,
        answeredBy: whole.answeredBy,
        extension: whole.extension,
        duration: whole.duration,
      });
      expect(next.activeCalls).toBe(0);
    },
  );
});
