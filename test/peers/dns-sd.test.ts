import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/dns-sd-pair.ts', import.meta.url));

/** Whether this machine lets us make a private network namespace (root, util-linux unshare, iproute2). */
async function namespacesAvailable(): Promise<boolean> {
  try {
    await run('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up']);
    return true;
  } catch {
    return false;
  }
}

// Multicast does not pass on the host loopback; a private namespace with multicast enabled on its
// own loopback gives DNS-SD a real network without touching the machine's.
const inNamespace = (await namespacesAvailable()) ? test : test.skip;

inNamespace('units find each other by DNS-SD alone and can call', async (t) => {
  const script = [
    'ip link set lo up',
    'ip link set lo multicast on',
    'ip route add 224.0.0.0/4 dev lo',
    `exec "${process.execPath}" --import=tsx "${fixture}"`,
  ].join(' && ');
  const { stdout } = await run('unshare', ['-n', 'sh', '-c', script], { timeout: 30_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  t.deepEqual(result.alphaSees, [{ name: 'Beta', online: true, source: 'dns-sd', users: ['Door'] }]);
  t.deepEqual(result.betaSees, [{ name: 'Alpha', online: true, source: 'dns-sd', users: ['Kitchen'] }]);
  t.true(result.foundAfterMs < 5000, `found after ${result.foundAfterMs} ms`);
  t.is(result.callPhase, 'ringing');
});
