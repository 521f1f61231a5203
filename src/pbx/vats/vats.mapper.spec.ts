import { foldCall } from '../../calls/call-state';
import { parsePost, VatsEventDto } from './vats.dto';
import { eventEvents, parsePostTime, recordEvents, resultOf } from './vats.mapper';

const ctx = { defaultCountry: 'RU', receivedAt: new Date('2024-05-14T07:17:00Z') };

describe('VATS mapper', () => {
  it.each([
    ['in', 'Success', 'answered'],
    ['in', 'missed', 'missed'],
    ['in', 'NotAvailable', 'missed'],
    ['in', 'Cancel', 'missed'],
    ['in', 'Busy', 'busy'],
    ['in', 'NotAllowed', 'failed'],
    ['in', 'SomethingNew', 'missed'],
    ['out', 'Success', 'answered'],
    ['out', 'Cancel', 'cancelled'],
    ['out', 'NotAvailable', 'missed'],
    ['out', 'Busy', 'busy'],
    ['out', 'NotFound', 'failed'],
  ] as const)('%s call with status %s is %s', (type, status, result) => {
    expect(resultOf(type, status)).toBe(result);
  });

  it('reads the UTC start of a history post', () => {
    expect(parsePostTime('20240514T071502Z').toISOString()).toBe('2024-05-14T07:15:02.000Z');
    expect(() => parsePostTime('2024-05-14 07:15:02')).toThrow('start must be a UTC time');
  });

  it('turns INCOMING, ACCEPTED and TRANSFERRED into ringing, answer and transfer', () => {
    const fields = { cmd: 'event', phone: '89161234567', diversion: '74951234567', callid: 'c1' };
    const out = (['INCOMING', 'ACCEPTED', 'TRANSFERRED', 'COMPLETED', 'CANCELLED'] as const).map(
      (type) => eventEvents(parsePost({ ...fields, type, ext: '101' }) as VatsEventDto, ctx),
    );
    expect(out.map((evs) => evs.map((e) => e.type))).toEqual([
      ['call.ringing'],
      ['call.answered'],
      ['call.transferred'],
      [],
      [],
    ]);
    expect(out[0][0]).toMatchObject({
      id: 'vats:c1:ringing:101',
      direction: 'inbound',
      from: '+79161234567',
      to: '+74951234567',
      extension: '101',
    });
  });

  it('names the employee by login when the PBX sends no extension', () => {
    const post = parsePost({ cmd: 'event', type: 'INCOMING', callid: 'c2', user: 'ivanov' });
    expect(eventEvents(post as VatsEventDto, ctx)[0]).toMatchObject({ extension: 'ivanov' });
  });

  it('rebuilds a whole call from one history record for a call the hub never heard of', () => {
    const events = recordEvents(
      {
        callid: 'h1',
        type: 'in',
        status: 'Success',
        phone: '79161234567',
        diversion: '74951234567',
        ext: '102',
        start: new Date('2024-05-14T07:15:02Z'),
        waitS: 7,
        duration: 95,
        link: 'https://pbx.example/rec/h1.mp3',
      },
      ctx,
      true,
    );
    const call = foldCall(events);
    expect(call).toMatchObject({
      direction: 'inbound',
      result: 'answered',
      answeredBy: '102',
      ringing: ['102'],
      duration: 95,
      recordingUrl: 'https://pbx.example/rec/h1.mp3',
    });
    expect(call.answeredAt?.toISOString()).toBe('2024-05-14T07:15:09.000Z');
    expect(call.endedAt?.toISOString()).toBe('2024-05-14T07:16:44.000Z');
  });

  it('refuses a post whose fields are malformed, naming the field', () => {
    expect(() => parsePost({ cmd: 'event', type: 'RINGING', callid: 'c3' })).toThrow(/type/);
    expect(() =>
      parsePost({ cmd: 'history', type: 'in', callid: 'c4', status: 'Success' }),
    ).toThrow(/start is required/);
    expect(() => parsePost({ cmd: 'contact', callid: 'x'.repeat(73) })).toThrow(
      'callid must be 1-72 printable ASCII characters',
    );
  });
});
