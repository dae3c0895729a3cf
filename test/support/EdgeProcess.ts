import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { MeshInfo } from '../../lib/mesh';
import type { TestEdgeOptions } from './edgeFixture';

const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

/**
 * An edge started in a child process (edgeMain.ts) in a process group of its own, so that one signal
 * reaches the node process and its mediasoup workers: kill() is a crash, stop() an orderly close.
 */
export class EdgeProcess {
  readonly node: string;
  readonly url: string;
  readonly #child: ChildProcess;

  static start(mesh: MeshInfo, edge: TestEdgeOptions, timeoutMs = 60_000): Promise<EdgeProcess> {
    const child = spawn(TSX, [join(__dirname, 'edgeMain.ts'), JSON.stringify({ mesh, edge })], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise<EdgeProcess>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        signalGroup(child, 'SIGKILL');
        reject(new Error(`edge ${edge.region}-${edge.index} did not start in ${timeoutMs} ms`));
      }, timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n')[0];
        if (!out.includes('\n') || !line) return;
        clearTimeout(timer);
        const { node, url } = JSON.parse(line) as { node: string; url: string };
        resolve(new EdgeProcess(child, node, url));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`edge ${edge.region}-${edge.index} exited (${code}) before it was ready`));
      });
    });
  }

  private constructor(child: ChildProcess, node: string, url: string) {
    this.#child = child;
    this.node = node;
    this.url = url;
  }

  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /** SIGKILL to the whole group: the edge and its workers die at once, like a crashed machine. */
  kill(): void {
    signalGroup(this.#child, 'SIGKILL');
  }

  /** An orderly close (SIGTERM to the node process, which closes its workers), or a kill after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.#child.once('exit', () => r()));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(timer);
    // Whatever of the group outlived it.
    signalGroup(this.#child, 'SIGKILL');
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
