import type { NormalizedEvent } from './call-event';
import { foldCall } from './call-state';

const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 10, 0, s)).toISOString();
const ev = (
  id: string,
  type: NormalizedEvent['type'],
  s: number,
  extra: Partial<NormalizedEvent> = {},
): NormalizedEvent => ({
  id,
  callId: 'c-1',
  type,
  at: at(s),
  ...extra,
});

const answeredCall: NormalizedEvent[] = [
  ev('1', 'call.started', 0, { direction: 'inbound', from: '+74951234567', to: '+74957654321' }),
  ev('2', 'call.ringing', 1, { extension: '101' }),
  ev('3', 'call.ringing', 1, { extension: '102' }),
  ev('4', 'call.answered', 5, { extension: '102' }),
  ev('5', 'call.ended', 65, { result: 'answered', duration: 60 }),
];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('foldCall', () => {
  it('gives the same call for every order of arrival', () => {
    const expected = foldCall(answeredCall);
    for (const order of permutations(answeredCall)) expect(foldCall(order)).toEqual(expected);
    expect(expected).toMatchObject({
      status: 'ended',
      result: 'answered',
      duration: 60,
      answeredBy: '102',
      extension: '102',
      ringing: ['101', '102'],
      from: '+74951234567',
    });
  });

  it('ignores duplicates', () => {
    const twice = [...answeredCall, ...answeredCall.map((e) => ({ ...e }))];
    expect(foldCall(twice)).toEqual(foldCall(answeredCall));
  });

  it('never reopens an ended call with a late ringing or answered event', () => {
    const late = [
      ...answeredCall,
      ev('6', 'call.ringing', 70, { extension: '103' }),
      ev('7', 'call.answered', 71, { extension: '103' }),
    ];
    const state = foldCall(late);
    expect(state.status).toBe('ended');
    expect(state.ringing).not.toContain('103');
    expect(state.answeredBy).toBe('102');
  });

  it('keeps the agent who answered first', () => {
    const state = foldCall([...answeredCall, ev('6', 'call.answered', 6, { extension: '101' })]);
    expect(state.answeredBy).toBe('102');
    expect(state.answeredAt?.toISOString()).toBe(at(5));
  });

  it('moves the current agent on a transfer but keeps who answered', () => {
    const state = foldCall([
      ...answeredCall.slice(0, 4),
      ev('6', 'call.transferred', 20, { extension: '105' }),
    ]);
    expect(state.extension).toBe('105');
    expect(state.answeredBy).toBe('102');
    expect(state.status).toBe('answered');
  });

  it('gives an ended call a result and a duration even when the PBX sent neither', () => {
    const missed = foldCall([
      ev('1', 'call.ringing', 0, { extension: '101' }),
      ev('2', 'call.ended', 30),
    ]);
    expect(missed).toMatchObject({
      status: 'ended',
      result: 'missed',
      duration: 0,
      extension: null,
    });
    const talked = foldCall([
      ev('1', 'call.answered', 0, { extension: '101' }),
      ev('2', 'call.ended', 42),
    ]);
    expect(talked).toMatchObject({ result: 'answered', duration: 42 });
  });

  it('takes the recording from a later recording event and marks an announced one', () => {
    const state = foldCall([
      ...answeredCall.slice(0, 4),
      ev('5', 'call.ended', 65, { result: 'answered', duration: 60, recorded: true }),
    ]);
    expect(state.recordingExpected).toBe(true);
    expect(state.recordingUrl).toBeNull();
    const withRec = foldCall([
      ...answeredCall,
      ev('6', 'call.recording', 90, { recordingUrl: 'https://pbx/r/1.mp3' }),
    ]);
    expect(withRec.recordingUrl).toBe('https://pbx/r/1.mp3');
  });

  it('attributes an outbound call to the agent who placed it', () => {
    const state = foldCall([
      ev('1', 'call.started', 0, {
        direction: 'outbound',
        from: '101',
        to: '+74951234567',
        extension: '101',
      }),
      ev('2', 'call.ended', 10, { result: 'busy' }),
    ]);
    expect(state).toMatchObject({ direction: 'outbound', extension: '101', result: 'busy' });
  });
});
