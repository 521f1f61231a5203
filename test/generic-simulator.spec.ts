import type { NormalizedEvent } from '../src/calls/call-event';
import { CallState, foldCall } from '../src/calls/call-state';
import { parseEvents } from '../src/calls/ingest.service';
import {
  allEvents,
  answeredCall,
  blindTransferCall,
  localIso,
  missedCall,
  outboundCall,
  playScript,
  queueCall,
  recordedCall,
  ringAllCall,
  ScriptStep,
  scriptDurationMs,
} from './support/generic-simulator';

const TENANT = { defaultCountry: 'RU' };
const CALLER = '+79161234567';
const LINE = '+74957654321';

/** The events as the hub stores them, after its own validation and normalization. */
const parse = (steps: ScriptStep[]): NormalizedEvent[] =>
  parseEvents({ events: allEvents(steps) }, TENANT);

interface Case {
  name: string;
  steps: ScriptStep[];
  expected: Partial<CallState>;
}

const cases: Case[] = [
  {
    name: 'answered',
    steps: answeredCall({ callId: 'ans-1', from: '8 (916) 123-45-67', talkS: 60 }),
    expected: {
      direction: 'inbound',
      status: 'ended',
      result: 'answered',
      from: CALLER,
      to: LINE,
      answeredBy: '101',
      extension: '101',
      ringing: ['101'],
      duration: 60,
      recordingUrl: null,
      recordingExpected: false,
    },
  },
  {
    name: 'answered with the recording link on hangup',
    steps: answeredCall({
      callId: 'ans-2',
      extension: '102',
      recordingUrl: 'http://10.0.0.5/rec/ans-2.wav',
    }),
    expected: {
      result: 'answered',
      answeredBy: '102',
      recordingUrl: 'http://10.0.0.5/rec/ans-2.wav',
      recordingExpected: true,
    },
  },
  {
    name: 'missed',
    steps: missedCall({ callId: 'mis-1', from: '+7 999 555-00-11', extensions: ['101', '102'] }),
    expected: {
      direction: 'inbound',
      status: 'ended',
      result: 'missed',
      from: '+79995550011',
      answeredBy: null,
      extension: null,
      ringing: ['101', '102'],
      duration: 0,
    },
  },
  {
    name: 'ring-all group',
    steps: ringAllCall({ callId: 'grp-1', extensions: ['101', '102', '103'], answeredBy: '103' }),
    expected: {
      result: 'answered',
      answeredBy: '103',
      extension: '103',
      ringing: ['101', '102', '103'],
      duration: 64,
    },
  },
  {
    name: 'queue',
    steps: queueCall({ callId: 'q-1', agents: ['101', '102', '103'], answeredBy: '102' }),
    expected: {
      result: 'answered',
      answeredBy: '102',
      extension: '102',
      // 103 never rang: the queue stopped at the agent who answered.
      ringing: ['101', '102'],
    },
  },
  {
    name: 'blind transfer',
    steps: blindTransferCall({ callId: 'xfer-1', extension: '101', transferTo: '105' }),
    expected: {
      result: 'answered',
      answeredBy: '101',
      extension: '105',
      ringing: ['101', '105'],
      duration: 120,
    },
  },
  {
    name: 'outbound',
    steps: outboundCall({ callId: 'out-1', extension: '102', to: '8 (916) 123-45-67' }),
    expected: {
      direction: 'outbound',
      status: 'ended',
      result: 'answered',
      from: '102',
      to: CALLER,
      answeredBy: '102',
      extension: '102',
      ringing: [],
      duration: 42,
    },
  },
  {
    name: 'outbound nobody picks up',
    steps: outboundCall({ callId: 'out-2', to: '84951234567', result: 'busy' }),
    expected: {
      direction: 'outbound',
      result: 'busy',
      to: '+74951234567',
      answeredBy: null,
      // An outbound call belongs to the agent who placed it, answered or not.
      extension: '101',
      duration: 0,
    },
  },
  {
    name: 'recorded',
    steps: recordedCall({ callId: 'rec-1', recordingUrl: 'https://pbx.example.com/r/rec-1.mp3' }),
    expected: {
      result: 'answered',
      answeredBy: '101',
      recordingUrl: 'https://pbx.example.com/r/rec-1.mp3',
      recordingExpected: true,
    },
  },
];

describe('generic PBX simulator', () => {
  describe.each(cases)('$name', ({ steps, expected }) => {
    it('passes the hub ingest validation, as one batch and event by event', () => {
      expect(parse(steps)).toHaveLength(allEvents(steps).length);
      for (const ev of allEvents(steps)) expect(() => parseEvents(ev, TENANT)).not.toThrow();
    });

    it('folds to the intended call', () => {
      expect(foldCall(parse(steps))).toMatchObject(expected);
    });

    it('folds to the same call whatever order the events arrive in', () => {
      const events = parse(steps);
      expect(foldCall([...events].reverse())).toEqual(foldCall(events));
    });

    it('has unique, deterministic ids and one call id', () => {
      const ids = allEvents(steps).map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(allEvents(steps).map((e) => e.callId)).size).toBe(1);
      for (const id of ids) expect(id).toMatch(/^[\x21-\x7e]{1,128}$/);
    });

    it('spaces the steps by the time between their events', () => {
      expect(steps[0].delayMs).toBe(0);
      for (let i = 1; i < steps.length; i++) {
        const gap = Date.parse(steps[i].events[0].at) - Date.parse(steps[i - 1].events[0].at);
        expect(steps[i].delayMs).toBe(gap);
        expect(steps[i].delayMs).toBeGreaterThanOrEqual(0);
        // Events of one step happen at one instant.
        for (const ev of steps[i].events) expect(ev.at).toBe(steps[i].events[0].at);
      }
      expect(steps.every((s) => s.label.length > 0 && s.events.length > 0)).toBe(true);
    });

    it('ends with call.ended, or with call.recording right after it', () => {
      const types = allEvents(steps).map((e) => e.type);
      const last = types.at(-1) === 'call.recording' ? types.at(-2) : types.at(-1);
      expect(last).toBe('call.ended');
      expect(types[0]).toBe('call.started');
      expect(types.filter((t) => t === 'call.ended')).toHaveLength(1);
    });
  });

  it('builds the same script twice, and disjoint ids for another call', () => {
    const a = ringAllCall({ callId: 'same' });
    expect(ringAllCall({ callId: 'same' })).toEqual(a);
    const other = new Set(allEvents(ringAllCall({ callId: 'other' })).map((e) => e.id));
    expect(allEvents(a).some((e) => other.has(e.id))).toBe(false);
  });

  it('sends numbers as dialled and local times with the PBX offset', () => {
    const [start] = allEvents(
      answeredCall({ callId: 'tz', startAt: '2026-11-25T10:00:00Z', from: '8 916 123-45-67' }),
    );
    expect(start).toMatchObject({
      from: '8 916 123-45-67',
      to: LINE,
      direction: 'inbound',
      at: '2026-11-25T13:00:00.000+03:00',
    });
    expect(parseEvents(start, TENANT)[0]).toMatchObject({
      from: CALLER,
      at: '2026-11-25T10:00:00.000Z',
    });
    expect(localIso(Date.parse('2026-01-01T00:00:00Z'), -330)).toBe(
      '2025-12-31T18:30:00.000-05:30',
    );
    expect(localIso(Date.parse('2026-01-01T00:00:00Z'), 0)).toBe('2026-01-01T00:00:00.000Z');
  });

  it('announces a recording on hangup and delivers it after', () => {
    const events = allEvents(recordedCall({ callId: 'rec-2', recordingAfterS: 7 }));
    const end = events.find((e) => e.type === 'call.ended')!;
    const rec = events.at(-1)!;
    expect(end).toMatchObject({ recorded: true });
    expect(end.recordingUrl).toBeUndefined();
    expect(rec).toMatchObject({ type: 'call.recording' });
    expect(Date.parse(rec.at) - Date.parse(end.at)).toBe(7000);
    // Without the recording the hub knows one is coming and has no link yet.
    const withoutRecording = foldCall(parseEvents({ events: events.slice(0, -1) }, TENANT));
    expect(withoutRecording).toMatchObject({ recordingExpected: true, recordingUrl: null });
  });

  it('lets the queue ring agents one after another', () => {
    const steps = queueCall({ callId: 'q-2', agents: ['201', '202'], holdS: 10, ringEachS: 20 });
    const rings = allEvents(steps).filter((e) => e.type === 'call.ringing');
    expect(rings.map((e) => e.extension)).toEqual(['201', '202']);
    expect(Date.parse(rings[1].at) - Date.parse(rings[0].at)).toBe(20_000);
  });

  it('refuses scripts that cannot happen', () => {
    expect(() => ringAllCall({ callId: 'x', extensions: ['101'], answeredBy: '102' })).toThrow(
      /not in the group/,
    );
    expect(() => queueCall({ callId: 'x', agents: ['101'], answeredBy: '109' })).toThrow(
      /not among the agents/,
    );
    expect(() => answeredCall({ callId: 'with space' })).toThrow(/callId/);
    expect(() => answeredCall({ callId: 'x', startAt: 'yesterday' })).toThrow(/startAt/);
  });

  describe('playScript', () => {
    const steps = answeredCall({ callId: 'play-1', ringS: 6, talkS: 60 });

    it('sends each step in order after its delay, scaled by speed', async () => {
      const log: string[] = [];
      await playScript((events) => void log.push(`send ${events.map((e) => e.type)}`), steps, {
        speed: 10,
        sleep: async (ms) => void log.push(`sleep ${ms}`),
        beforeStep: (step, i) => void log.push(`before ${i}`),
      });
      expect(log).toEqual([
        'before 0',
        'send call.started',
        'sleep 40',
        'before 1',
        'send call.ringing',
        'sleep 600',
        'before 2',
        'send call.answered',
        'sleep 6000',
        'before 3',
        'send call.ended',
      ]);
      expect(scriptDurationMs(steps)).toBe(66_400);
    });

    it('waits for real at the given speed', async () => {
      const started = Date.now();
      const sent: number[] = [];
      await playScript((events) => void sent.push(events.length), steps, { speed: 1000 });
      expect(sent).toEqual([1, 1, 1, 1]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(60);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('stops at the first failed send', async () => {
      const sent: string[] = [];
      const play = playScript(
        (events) => {
          sent.push(events[0].type);
          if (events[0].type === 'call.ringing') throw new Error('HTTP 503');
        },
        steps,
        { speed: Infinity },
      );
      await expect(play).rejects.toThrow('HTTP 503');
      expect(sent).toEqual(['call.started', 'call.ringing']);
    });

    it('refuses a speed that is not positive', async () => {
      await expect(playScript(() => undefined, steps, { speed: 0 })).rejects.toThrow(/speed/);
    });
  });
});
