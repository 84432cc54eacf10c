import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Runs one of the repository's build scripts; its progress goes to this process's stderr. */
export async function runBuildScript(script: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(REPO_ROOT, script), args, {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 40 * 60 * 1000,
  });
  return stdout.trim().split('\n').at(-1) ?? '';
}

/** A root file system unpacked from one of image/rootfs.sh's cached tarballs; removed by dispose(). */
export class UnpackedRoot {
  readonly path: string;

  constructor(tarball: string) {
    this.path = mkdtempSync(join(tmpdir(), 'intercom-root-'));
    execFileSync('tar', ['-C', this.path, '--numeric-owner', '-xpf', tarball]);
  }

  /** Runs a shell command inside the root, with /proc mounted in a private mount namespace. */
  async run(command: string): Promise<{ stdout: string; stderr: string }> {
    return execFileAsync(
      'unshare',
      [
        '--mount', '--propagation', 'private', 'bash', '-c',
        'mount -t proc proc "$1/proc" && chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -c "$2"',
        'chroot-run', this.path, command,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 5 * 60 * 1000 },
    );
  }

  dispose(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
