import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/dns-sd-pair.ts', import.meta.url));
const announcementsFixture = fileURLToPath(new URL('./fixtures/dns-sd-announcements.ts', import.meta.url));

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

/** Runs a fixture in a private network namespace whose loopback passes multicast; its last stdout line, parsed. */
async function runFixtureInNamespace<T>(fixturePath: string, timeoutMs: number): Promise<T> {
  const script = [
    'ip link set lo up',
    'ip link set lo multicast on',
    'ip route add 224.0.0.0/4 dev lo',
    `exec "${process.execPath}" --import=tsx "${fixturePath}"`,
  ].join(' && ');
  const { stdout } = await run('unshare', ['-n', 'sh', '-c', script], { timeout: timeoutMs, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

inNamespace('units find each other by DNS-SD alone and can call', async (t) => {
  const result = await runFixtureInNamespace<any>(fixture, 30_000);
  t.deepEqual(result.alphaSees, [{ name: 'Beta', online: true, source: 'dns-sd', users: ['Door'] }]);
  t.deepEqual(result.betaSees, [{ name: 'Alpha', online: true, source: 'dns-sd', users: ['Kitchen'] }]);
  t.true(result.foundAfterMs < 5000, `found after ${result.foundAfterMs} ms`);
  t.is(result.callPhase, 'ringing');
});

inNamespace('a unit announces itself unasked only while no other unit probes it, answers queries all the time, and says goodbye when it stops', async (t) => {
  const result = await runFixtureInNamespace<{ unasked: number[]; foundByAsking: boolean; goodbye: boolean }>(announcementsFixture, 60_000);
  t.log(`announced unasked at ${result.unasked.join(', ')} ms`);
  const within = (from: number, to: number) => result.unasked.filter((at) => at >= from && at < to);
  // bonjour-service's first two (about 1 and 4 s, after its probe), then nothing while other units
  // probe it (its own schedule would announce at about 13 s), then again once none has for 2 s.
  t.is(within(0, 5500).length, 2, `announced at ${result.unasked.join(', ')} ms`);
  t.deepEqual(within(5500, 15_000), [], 'silent while known to the site');
  t.is(within(15_000, 22_000).length, 2, 'unknown: announced at once, and again after the first delay');
  t.true(result.foundByAsking, 'a browser that asks later still finds it');
  t.true(result.goodbye, 'its goodbye goes out when it stops');
});
