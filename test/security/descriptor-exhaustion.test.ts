import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// A unit out of file descriptors (thousands of idle connections under a 1024 limit) retried its
// sound device, spawning an audio host: the spawn failed with EMFILE, which Node reports as an
// 'error' event on the next tick, and the audio host code read the child's pipes before that, threw,
// and left the error event to nobody: the service died with an uncaught "spawn EMFILE". Now a host
// that cannot be started is an audio host that exited, with the reason, and the process lives on.

const execFileAsync = promisify(execFile);
const FIXTURE = fileURLToPath(new URL('./fixtures/spawn-without-descriptors.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

test('an audio host that cannot be spawned for want of file descriptors is refused with the reason, and the process survives', async (t) => {
  const result = await execFileAsync('/bin/sh', ['-c', 'ulimit -n 128 && exec "$@"', 'sh', process.execPath, '--import', TSX_LOADER, FIXTURE], { timeout: 60_000 }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
  t.is(result.code, 0, `the process died: ${result.stderr.split('\n').filter((line) => /Error|EMFILE/.test(line)).slice(0, 3).join(' | ')}`);
  const report = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { outcome?: string; descriptorsHeld?: number };
  t.true((report.descriptorsHeld ?? 0) > 50, 'the descriptors really were used up');
  t.regex(report.outcome ?? '', /^refused: .*could not be started: spawn .*EMFILE/);
});
