import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** The hub as a separate process (`src/main.ts`, or the build), for tests that kill it. */
export class HubProcess {
  private child?: ChildProcess;
  readonly output: string[] = [];

  constructor(
    private readonly env: Record<string, string>,
    readonly port: number,
    /** Node's own options (e.g. `--cpu-prof`), which NODE_OPTIONS may not carry. */
    private readonly nodeArgs: string[] = [],
    /** `built`: dist/src/main.js as `npm start` runs it (build first); `source`: src/main.ts. */
    private readonly entry: 'source' | 'built' = 'source',
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private spawnChild(): ChildProcess {
    const child = spawn(
      process.execPath,
      this.entry === 'built'
        ? [...this.nodeArgs, 'dist/src/main.js']
        : [...this.nodeArgs, '-r', 'ts-node/register/transpile-only', 'src/main.ts'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ...this.env,
          HUB_PORT: String(this.port),
          HUB_HOST: '127.0.0.1',
          TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
          NODE_ENV: 'production',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    return child;
  }

  async start(timeoutMs = 60000): Promise<void> {
    this.child = this.spawnChild();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`hub exited: ${this.output.join('').slice(-2000)}`);
      try {
        const res = await fetch(`${this.url}/health/ready`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`hub did not become ready: ${this.output.join('').slice(-2000)}`);
  }

  /** kill -9: no shutdown hooks, in-flight jobs and transactions are cut off. */
  async kill(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child!.kill('SIGKILL');
    await exited;
  }

  /** Sends a signal without waiting. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child!.kill(signal);
  }

  /** Waits for the process to exit (up to timeoutMs) and gives its exit code, or null if it still runs. */
  async exited(timeoutMs: number): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    if (!this.running) return child.exitCode;
    const code = await Promise.race([
      new Promise<number | null>((r) => child.once('exit', (c) => r(c))),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs)),
    ]);
    return code === undefined ? null : code;
  }

  /** Starts the process without waiting for readiness. */
  spawnOnly(): void {
    this.child = this.spawnChild();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child!.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
    await this.kill();
  }
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
