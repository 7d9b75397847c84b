/**
 * Drive a real QEMU for tests: start a diskless VM (firmware only) under TCG with an HMP monitor on
 * stdio, let the firmware run, stop it, then save a migration stream and an ELF dump of the same
 * paused state. Seconds per machine; no guest OS needed.
 */
import { spawn } from 'node:child_process';
import { tmpPath } from './tmp.js';

export interface QemuCapture {
  stream: string;
  elf: string;
}

export async function captureFirmwareVm(machine: 'q35' | 'pc', memMiB: number, runMs = 1500): Promise<QemuCapture> {
  const stream = tmpPath(`${machine}.stream`);
  const elf = tmpPath(`${machine}.elf`);
  const child = spawn('qemu-system-x86_64', [
    '-M', machine, '-m', String(memMiB), '-accel', 'tcg', '-display', 'none', '-serial', 'none',
    '-monitor', 'stdio', '-nodefaults', '-device', 'vmcoreinfo', '-no-user-config',
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const waitFor = async (re: RegExp, ms: number) => {
    const t0 = Date.now();
    while (!re.test(out)) {
      if (Date.now() - t0 > ms) throw new Error(`qemu: timed out waiting for ${re}; output:\n${out}`);
      if (child.exitCode !== null) throw new Error(`qemu exited ${child.exitCode}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const cmd = (c: string) => child.stdin.write(c + '\n');
  try {
    await waitFor(/\(qemu\)/, 20000);
    await new Promise((r) => setTimeout(r, runMs));
    cmd('stop');
    cmd(`dump-guest-memory ${elf}`);
    cmd(`migrate "exec:cat > ${stream}"`);
    // Poll until the migration completes.
    for (let i = 0; i < 200; i++) {
      out = out.replace(/Migration status: \w+/g, '');
      cmd('info migrate');
      await new Promise((r) => setTimeout(r, 100));
      if (/Migration status: completed/.test(out)) break;
      if (/Migration status: failed/.test(out)) throw new Error(`migration failed:\n${out}`);
    }
    if (!/Migration status: completed/.test(out)) throw new Error(`migration did not complete:\n${out}`);
    cmd('quit');
    await new Promise((r) => child.once('exit', r));
    return { stream, elf };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
