import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';

const ROOT = join(__dirname, '..');
const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `npm run demo` as a newcomer would, killed (as a process group) if it overruns. */
function runDemo(env: Record<string, string> = {}, limitMs = 58_000): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'demo'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      stderr += `\n[test] demo still running after ${limitMs} ms, killed`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, limitMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('npm run demo', () => {
  it('plays every call end to end, prints each step readably and cleans up', async () => {
    const run = await runDemo();
    // On failure, the whole output says which step broke.
    expect({ code: run.code, out: run.stdout, err: run.stderr }).toMatchObject({ code: 0 });
    expect(run.ms).toBeLessThan(60_000);
    const out = run.stdout;

    expect(out).toMatch(/hub route +→ extension 101 \(reason responsible; Anna Smirnova/);
    expect(out).toMatch(/CRM pop +card of \+79161234567 shown to Ivan Petrov \(101\)\n/);
    expect(out).toMatch(/CRM hangup +card closed \(answered\)/);
    expect(out).toMatch(
      /CRM log +in, \+79161234567, answered, Ivan Petrov \(101\), 60 s, recording http:\/\/127\.0\.0\.1:\d+\/v1\/recordings\//,
    );
    expect(out).toMatch(/recording +GET the link → 200 audio\/mpeg/);
    expect(out).toMatch(/hub route +→ no extension \(reason unknown_caller/);
    expect(out).toMatch(/CRM task +#\d+ "Missed call from \+79995550011 \(hub-[0-9a-f]{10}\)"/);
    expect(out).toMatch(
      /card of \+79037654321 shown to Ivan Petrov \(101\), Olga Sidorova \(102\), Petr Volkov \(103\)/,
    );
    expect(out).toMatch(/CRM log +in, \+79037654321, answered, Olga Sidorova \(102\)/);
    expect(out).toMatch(/CRM log +out, \+79161234567, answered, Ivan Petrov \(101\)/);
    expect(out).toMatch(
      /click-to-call reached the PBX: ring extension 101, then dial \+79161234567 \(signature ok\)/,
    );
    expect(out).toMatch(/hub reply +redirect → 101, .*caller name "Anna Smirnova"/);
    expect(out).toMatch(/demo-missed +inbound +missed .*lead done/);
    expect(out).toMatch(/OAuth +redirect → 200; the integration is connected/);
    expect(out).toMatch(/amoCRM pop +incoming-call notification for \+79161234567 to user 5001/);
    expect(out).toMatch(/amoCRM log +call amo-known on contact 7001, 30 s, recording http/);
    expect(out).toMatch(/recording +the PBX's WAV plays as audio\/mpeg \(200\)/);
    expect(out).toMatch(/amoCRM lead +one incoming lead \w+… in "Unsorted" for the call/);
    expect(out).toMatch(/widget +Ivan clicks Anna's number → 202/);
    expect(out).toMatch(/install +ONAPPINSTALL → 200; the integration is connected/);
    expect(out).toMatch(
      /Bitrix24 pop +registered \S+ and showed its card to Ivan Petrov, Olga Orlova in one batch request/,
    );
    expect(out).toMatch(
      /Bitrix24 log +finished with Olga Orlova, 30 s, status 200; card hidden for Ivan Petrov/,
    );
    expect(out).toMatch(/recording +Bitrix24 downloaded b24-group\.mp3 \(\d+ bytes of MP3\)/);
    expect(out).toMatch(
      /Bitrix24 log +finished \S+, the call Bitrix24 registered for the click: 20 s, status 200, never registered again/,
    );
    expect(out).toMatch(/hub +answered at \+79031112233: the call is 101's \(answered\)/);
    expect(out).toMatch(/CRM log +in, \+79161234567, answered, Ivan Petrov \(101\), 40 s/);
    expect(out).toMatch(/hub reply +\{"contact_name":"Boris Kuznetsov","responsible":"102"\}/);
    expect(out).toMatch(
      /CRM log +in, \+79037654321, answered, Olga Sidorova \(102\), 45 s, recording http/,
    );
    expect(out).toMatch(/\nDone in \d+\.\d s\.\n/);
    // Readable: no JSON log lines or bodies in the output (a warning logged by the hub would be one).
    expect(out.split('\n').filter((line) => /^\s*[{[]/.test(line))).toEqual([]);

    const db = /database (hub_test_\w+), dropped at exit/.exec(out)?.[1];
    expect(db).toBeDefined();
    const conn = await createConnection({ uri: MYSQL_URL });
    try {
      const [rows] = await conn.query(
        'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [db],
      );
      expect(rows).toEqual([]);
    } finally {
      await conn.end();
    }
  }, 65_000);

  it('exits 1 at once with a clear message when Redis is down', async () => {
    const run = await runDemo({ TEST_REDIS_URL: 'redis://127.0.0.1:1' }, 25_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /Redis is not reachable at redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED/,
    );
    expect(run.stderr).toContain('set TEST_REDIS_URL');
    expect(run.stdout).not.toContain('Telephony ↔ CRM hub demo');
  }, 30_000);
});
