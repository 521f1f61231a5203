import {
  AmiMessage,
  AmiOverflowError,
  AmiParser,
  MAX_HEADERS,
  MAX_LINE_CHARS,
  serializeMessage,
} from './ami-protocol';

function parseAll(chunks: (string | Buffer)[]): { messages: AmiMessage[]; banners: string[] } {
  const messages: AmiMessage[] = [];
  const banners: string[] = [];
  const parser = new AmiParser(
    (m) => messages.push(m),
    (b) => banners.push(b),
  );
  for (const c of chunks) parser.push(c);
  return { messages, banners };
}

const LOGIN_OK = 'Response: Success\r\nActionID: hub-1\r\nMessage: Authentication accepted\r\n\r\n';

describe('AmiParser', () => {
  it('refuses a line longer than the bound instead of buffering it', () => {
    const parser = new AmiParser(() => undefined);
    parser.push('Event: Newchannel\r\nChannel: ');
    expect(() => parser.push('x'.repeat(MAX_LINE_CHARS))).toThrow(AmiOverflowError);
    // What was buffered is gone: the next whole message parses on its own.
    const messages: AmiMessage[] = [];
    const fresh = new AmiParser((m) => messages.push(m));
    fresh.push(LOGIN_OK);
    expect(messages).toHaveLength(1);
  });

  it('refuses a message with more headers than the bound', () => {
    const parser = new AmiParser(() => undefined);
    const many = Array.from({ length: MAX_HEADERS + 1 }, (_, i) => `Variable: v${i}=1\r\n`).join(
      '',
    );
    expect(() => parser.push(`Event: VarSet\r\n${many}`)).toThrow(AmiOverflowError);
  });

  it('takes a message right at the bounds', () => {
    const { messages } = parseAll([
      `Event: VarSet\r\n${Array.from({ length: MAX_HEADERS - 1 }, (_, i) => `Variable: v${i}\r\n`).join('')}\r\n`,
    ]);
    expect(messages).toHaveLength(1);
    expect(messages[0].size).toBe(MAX_HEADERS);
  });

  it('skips the banner line that has no blank line after it', () => {
    const { messages, banners } = parseAll([`Asterisk Call Manager/2.10.4\r\n${LOGIN_OK}`]);
    expect(banners).toEqual(['Asterisk Call Manager/2.10.4']);
    expect(messages).toHaveLength(1);
    expect(messages[0].response).toBe('Success');
    expect(messages[0].actionId).toBe('hub-1');
  });

  it('skips a banner that a mock server follows with a blank line', () => {
    const { messages, banners } = parseAll([`Asterisk Call Manager/9.0.0\r\n\r\n${LOGIN_OK}`]);
    expect(banners).toHaveLength(1);
    expect(messages.map((m) => m.response)).toEqual(['Success']);
  });

  it('assembles messages split at every possible byte', () => {
    const text = `Asterisk Call Manager/2.10.4\r\n${LOGIN_OK}Event: Hangup\r\nUniqueid: a-1.2\r\nCause: 16\r\n\r\n`;
    for (let cut = 1; cut < text.length; cut++) {
      const { messages } = parseAll([text.slice(0, cut), text.slice(cut)]);
      expect(messages.map((m) => m.event ?? m.response)).toEqual(['Success', 'Hangup']);
      expect(messages[1].get('Cause')).toBe('16');
    }
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = Buffer.from('Event: Newchannel\r\nCallerIDName: Дмитрий\r\n\r\n', 'utf8');
    const cut = bytes.indexOf(Buffer.from('Д', 'utf8')) + 1;
    const { messages } = parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    expect(messages[0].get('CallerIDName')).toBe('Дмитрий');
  });

  it('keeps duplicate keys in order and looks keys up case-insensitively', () => {
    const { messages } = parseAll([
      'Event: VarSet\r\nVariable: A=1\r\nvariable: B=2\r\nVARIABLE: C=3\r\nValue: x: y\r\n\r\n',
    ]);
    const m = messages[0];
    expect(m.get('variable')).toBe('A=1');
    expect(m.getAll('Variable')).toEqual(['A=1', 'B=2', 'C=3']);
    expect(m.get('VALUE')).toBe('x: y');
    expect(m.event).toBe('VarSet');
  });

  it('accepts bare LF line ends and empty values, and ignores stray blank lines', () => {
    const { messages } = parseAll(['\r\n\r\nEvent: Newstate\nConnectedLineName:\nExten: 202\n\n']);
    expect(messages).toHaveLength(1);
    expect(messages[0].get('ConnectedLineName')).toBe('');
    expect(messages[0].get('Exten')).toBe('202');
  });

  it('holds back a message until its blank line arrives', () => {
    const messages: AmiMessage[] = [];
    const parser = new AmiParser((m) => messages.push(m));
    parser.push('Event: Hangup\r\nCause: 16\r\n');
    expect(messages).toHaveLength(0);
    parser.push('\r\n');
    expect(messages).toHaveLength(1);
  });
});

describe('serializeMessage', () => {
  it('writes CRLF lines, repeats array keys and ends with a blank line', () => {
    expect(
      serializeMessage({ Action: 'Originate', Priority: 1, Async: true, Variable: ['A=1', 'B=2'] }),
    ).toBe(
      'Action: Originate\r\nPriority: 1\r\nAsync: true\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n',
    );
  });

  it('refuses a value that would inject another header', () => {
    expect(() => serializeMessage({ Action: 'Login', Secret: 'x\r\nAction: Logoff' })).toThrow(
      /line break/,
    );
  });

  it('round-trips through the parser', () => {
    const { messages } = parseAll([
      serializeMessage({ Event: 'Hangup', 'Cause-txt': 'Normal Clearing' }),
    ]);
    expect(messages[0].toObject()).toEqual({ Event: 'Hangup', 'Cause-txt': 'Normal Clearing' });
  });
});
