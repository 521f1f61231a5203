/**
 * AMI events parsed per second on one core: every recorded capture serialized to AMI
 * text, fed to the parser in 16 KiB chunks, many rounds. Run: npx ts-node -P tsconfig.json
 * --transpile-only bench/ami-parse.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmiParser, serializeMessage, AmiFields } from '../src/pbx/asterisk/ami-protocol';

const dir = join(__dirname, '..', 'test', 'fixtures', 'asterisk-ami');
const events = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, string>[])
  .map((e) => {
    const fields: AmiFields = {};
    for (const [k, v] of Object.entries(e)) if (k !== 'content') fields[k] = v;
    return fields;
  });
const text = Buffer.from(events.map((e) => serializeMessage(e)).join(''));
const chunks: Buffer[] = [];
for (let i = 0; i < text.length; i += 16384) chunks.push(text.subarray(i, i + 16384));

let parsed = 0;
const parser = new AmiParser(() => parsed++);
const rounds = 400;
const started = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) for (const c of chunks) parser.push(c);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `${parsed} events (${events.length} per round, ${Math.round(text.length / events.length)} bytes each) in ${seconds.toFixed(2)} s: ${Math.round(parsed / seconds)} events/s, ${((text.length * rounds) / seconds / 1e6).toFixed(0)} MB/s on one core`,
);
