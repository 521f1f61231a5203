import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.js');

/** Runs the layering check of `npm run lint` in `cwd`; its exit code and report. */
function cruise(cwd: string, paths: string[]): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, [CLI, ...paths, '--config', CONFIG], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

/** A throwaway tree laid out like the repository. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-layering-'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022' } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('layering of src/ (npm run lint)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('passes on the repository as it is', () => {
    const { status, out } = cruise(ROOT, ['src', 'connectors']);
    expect(out).toContain('no dependency violations found');
    expect(status).toBe(0);
  });

  it('fails on a cycle between two rooms, naming the upward import', () => {
    const dir = tree({
      'src/calls/call.ts':
        "import { planner } from '../integrations/planner';\nexport const call = () => planner;\n",
      'src/integrations/planner.ts':
        "import { call } from '../calls/call';\nexport const planner = () => call;\n",
    });
    dirs.push(dir);
    const { status, out } = cruise(dir, ['src']);
    expect(status).not.toBe(0);
    expect(out).toContain('calls-imports-upward: src/calls/call.ts → src/integrations/planner.ts');
    expect(out).toContain('no-circular');
  });

  it('fails when a connector imports the core instead of the SDK', () => {
    const dir = tree({
      'src/connector-sdk/index.ts': 'export const sdk = 1;\n',
      'src/common/sql.ts': 'export const sql = 1;\n',
      'connectors/mycrm/index.ts':
        "import { sdk } from '../../src/connector-sdk';\nimport { sql } from '../../src/common/sql';\nexport default sdk + sql;\n",
    });
    dirs.push(dir);
    const { status, out } = cruise(dir, ['src', 'connectors']);
    expect(status).not.toBe(0);
    expect(out).toContain('connector-imports-core: connectors/mycrm/index.ts → src/common/sql.ts');
    expect(out).not.toContain('src/connector-sdk/index.ts →');
  });
});
