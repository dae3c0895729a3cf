import { type ChildProcess, spawn } from 'node:child_process';

/**
 * A media tool (gst-launch-1.0, ffmpeg) as a child process. The test that starts it owns it and
 * calls close(); output is kept so that a failing test can show what the tool said.
 */
export class ToolProcess {
  readonly #process: ChildProcess;
  #output = '';
  readonly #exited: Promise<void>;
  #exitCode: number | null | undefined;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.#process = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const collect = (chunk: Buffer) => {
      // Bounded: a chatty tool must not grow the test's memory.
      this.#output = (this.#output + chunk.toString()).slice(-20_000);
    };
    this.#process.stdout?.on('data', collect);
    this.#process.stderr?.on('data', collect);
    this.#exited = new Promise((resolve) => {
      this.#process.once('exit', (code) => {
        this.#exitCode = code;
        resolve();
      });
      this.#process.once('error', (error) => {
        this.#output += `\nspawn error: ${error.message}`;
        this.#exitCode = null;
        resolve();
      });
    });
  }

  get output(): string {
    return this.#output;
  }

  /** Whether the process still runs (a pipeline that errors out exits at once). */
  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Fails if the process already exited: it would send or receive nothing. */
  assertRunning(): void {
    if (!this.running)
      throw new Error(`${this.label} exited with ${this.#exitCode}:\n${this.#output.slice(-2000)}`);
  }

  async close(): Promise<void> {
    if (!this.running) return;
    this.#process.kill('SIGTERM');
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}
