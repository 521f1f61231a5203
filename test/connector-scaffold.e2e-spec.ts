import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

function run(args: string[], cwd: string): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 180_000 });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

interface JestReport {
  testResults: { assertionResults: { title: string; status: string }[] }[];
}

/** `npm run connector:new` into a throwaway tree laid out like the repository. */
describe('npm run connector:new', () => {
  let dir: string;
  let report: JestReport;
  let jestStatus: number | null;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hub-scaffold-'));
    symlinkSync(join(ROOT, 'src'), join(dir, 'src'), 'dir');
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const made = run(
      [join(ROOT, 'scripts', 'connector-new.js'), 'demo-crm', '--into', 'connectors'],
      dir,
    );
    if (made.status !== 0) throw new Error(made.out);
    writeFileSync(
      join(dir, 'jest.config.js'),
      `module.exports = ${JSON.stringify({
        rootDir: dir,
        testRegex: '\\.spec\\.ts$',
        transform: {
          '^.+\\.ts$': ['ts-jest', { diagnostics: false, tsconfig: join(ROOT, 'tsconfig.json') }],
        },
        testEnvironment: 'node',
      })};\n`,
    );
    const jest = run(
      [
        join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
        '--config',
        'jest.config.js',
        '--ci',
        '--json',
        '--outputFile',
        'report.json',
      ],
      dir,
    );
    jestStatus = jest.status;
    if (!existsSync(join(dir, 'report.json'))) throw new Error(jest.out);
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as JestReport;
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const results = () =>
    new Map(report.testResults.flatMap((f) => f.assertionResults.map((a) => [a.title, a.status])));

  it('writes SDK v2 code that compiles', () => {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        include: ['connectors'],
        compilerOptions: { incremental: false, rootDir: '.', preserveSymlinks: true },
      }),
    );
    const tsc = run(
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit'],
      dir,
    );
    expect(tsc.out).toBe('');
    expect(tsc.status).toBe(0);
    const index = readFileSync(join(dir, 'connectors', 'demo-crm', 'index.ts'), 'utf8');
    expect(index).toContain('defineConnector(');
    expect(index).toMatch(/auth: \{ type: ["']apiKey["']/);
  });

  it('starts red: the lookups are not written yet', () => {
    expect(jestStatus).not.toBe(0);
    expect(results().get('finds the contact of a known phone with its responsible user')).toBe(
      'failed',
    );
    expect(results().get('implements exactly the methods of its declared capabilities')).toBe(
      'passed',
    );
  });

  it('already reads a throttled reply as rate_limited, as the conformance suite requires', () => {
    expect(results().get('turns a 429 into rate_limited with the Retry-After delay')).toBe(
      'passed',
    );
    expect(results().get('turns a 503 into rate_limited with the Retry-After delay')).toBe(
      'passed',
    );
    expect(results().get('waits at least a second when a throttled reply has no Retry-After')).toBe(
      'passed',
    );
  });
});
