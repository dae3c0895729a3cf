import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Mesh } from '../../../regions/launcher';
import { isPidAlive } from '../../../regions/launcher/system';
import { listNetns, wanSupport } from '../../../regions/launcher/wan/netns';
import { hostInterface, netnsPrefix } from '../../../regions/launcher/wan/WanPlan';

const NAME = 'test-wan-crash';
const BASE = 19000;
const ours = () => listNetns().filter((n) => n.startsWith(netnsPrefix(NAME)));
// An orphan killed by the new launcher may stay a zombie until init reaps it: isPidAlive says gone.
const alive = isPidAlive;
let mesh: Mesh | null = null;

afterAll(async () => {
  await mesh?.stop();
});

describe('emulated WAN after a crash of the launcher', () => {
  it('the next start of the same mesh removes the namespaces, link and emulator it left', async () => {
    const support = wanSupport();
    if (!support.ok) throw new Error(`the WAN tests need root, iproute2 and /dev/net/tun: ${support.reason}`);
    // One process (no tsx wrapper in front), so the SIGKILL hits the launcher itself.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'crashLauncher.ts'), NAME, String(BASE)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const emulatorPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`launcher exited with ${code} before it was ready`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // What a crash leaves: the namespaces, the host link, the emulator (orphaned).
    expect(ours()).toHaveLength(4);
    expect(existsSync(`/sys/class/net/${hostInterface(NAME)}`)).toBe(true);
    expect(alive(emulatorPid)).toBe(true);

    const lines: string[] = [];
    mesh = await Mesh.start({
      name: NAME,
      portBase: BASE,
      redis: false,
      kafka: false,
      wan: true,
      onProgress: (l) => lines.push(l),
    });
    expect(lines.join('\n')).toMatch(/removed 4 network namespace\(s\) left by a previous run/);
    expect(alive(emulatorPid)).toBe(false);
    expect(ours()).toHaveLength(4);
    await mesh.stop();
    expect(ours()).toEqual([]);
    expect(existsSync(`/sys/class/net/${hostInterface(NAME)}`)).toBe(false);
  });
});
