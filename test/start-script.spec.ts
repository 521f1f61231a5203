import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', 'scripts', 'start.js');

/** scripts/start.js (what `npm start` runs) in a throwaway tree, with or without a build. */
function tree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hub-start-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(SCRIPT, join(dir, 'scripts', 'start.js'));
  return dir;
}

function start(dir: string, args: string[]) {
  return spawnSync(process.execPath, [join(dir, 'scripts', 'start.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('npm start runs the built hub and never builds', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('exits 1 with a message saying to build when dist is missing', () => {
    const dir = tree();
    dirs.push(dir);
    const res = start(dir, ['src/main.js']);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('dist/src/main.js is missing');
    expect(res.stderr).toContain('npm run build');
    expect(res.stdout).toBe('');
  });

  it('runs dist/<file> in its own process, with the arguments after it', () => {
    const dir = tree();
    dirs.push(dir);
    mkdirSync(join(dir, 'dist', 'src'), { recursive: true });
    writeFileSync(
      join(dir, 'dist', 'src', 'main.js'),
      'console.log(JSON.stringify({ argv: process.argv.slice(1), pid: process.pid }));\n',
    );
    const res = start(dir, ['src/main.js', 'run']);
    expect(res.status).toBe(0);
    const out = JSON.parse(res.stdout) as { argv: string[]; pid: number };
    expect(out.argv).toEqual([join(dir, 'dist', 'src', 'main.js'), 'run']);
    // The same process as the script itself: signals from systemd or npm reach the hub.
    expect(out.pid).toBe(res.pid);
  });
});
