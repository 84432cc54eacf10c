import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { startUnit, api, connectUnits, type TestUnit } from '../support/unit-harness.js';
import { generateSiteSecret, siteSecretPath, storeSiteSecret } from '../../src/security/site-secret.js';
import { eventually } from '../support/eventually.js';

// `intercom site invite`, `intercom site join CODE [HOST]`, `status`, `leave` and `remove`, as typed on a
// unit over ssh: each asks that unit's running service (here: a unit in the test process) through
// its API with the local token from the data directory, found through the configuration.

async function freshUnit(t: { teardown(fn: () => Promise<void>): void }, name: string): Promise<TestUnit> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-cli-${name}-`));
  const secret = generateSiteSecret();
  const unit = await startUnit(name, { dataDir, siteSecret: { secret, source: 'generated', file: await storeSiteSecret(dataDir, secret) } });
  t.teardown(async () => {
    await unit.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return unit;
}

/** `intercom <args>` on `unit`: its configuration says where its data and port are (NODE_CONFIG, as /etc/intercom would). */
async function onUnit(unit: TestUnit, args: string[]) {
  const run = runCli(args, { NODE_CONFIG: JSON.stringify({ dataDir: unit.dataDir, http: { port: unit.port } }) });
  const { code, stderr } = await run.exited;
  return { code, stderr, stdout: run.lines.map((line) => (line.type === 'text' ? line.text : JSON.stringify(line))).join('\n'), lines: run.lines };
}

test('site invite on one unit, site join CODE HOST on the other: joined, and status and leave say so', async (t) => {
  const hall = await freshUnit(t, 'Hall');
  const kitchen = await freshUnit(t, 'Kitchen');

  const invite = await onUnit(hall, ['site', 'invite']);
  t.is(invite.code, 0, invite.stderr);
  const code = /Join code: ([0-9]{6})/.exec(invite.stdout)?.[1];
  t.truthy(code, invite.stdout);
  t.regex(invite.stdout, /Valid for 5 minutes and 3 tries/);

  const status = await onUnit(hall, ['site', 'status', '--json']);
  t.like(status.lines[0], { type: 'site', secretSource: 'generated', invitation: { code } });

  const wrong = await onUnit(kitchen, ['site', 'join', '12345']);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /is not a join code/);

  const joined = await onUnit(kitchen, ['site', 'join', code!, `127.0.0.1:${hall.port}`]);
  t.is(joined.code, 0, joined.stderr);
  t.regex(joined.stdout, /Joined the site of Hall \(127\.0\.0\.1:\d+\)/);
  t.is((await readFile(siteSecretPath(kitchen.dataDir), 'utf8')).trim(), (await readFile(siteSecretPath(hall.dataDir), 'utf8')).trim());
  await eventually('Hall knows Kitchen', async () => hall.unit.directory.peers().some((peer) => peer.name === 'Kitchen'));

  const again = await onUnit(kitchen, ['site', 'join', code!, `127.0.0.1:${hall.port}`]);
  t.is(again.code, 1);
  t.regex(again.stderr, /leave it first \(in-a-site\)/);

  const left = await onUnit(kitchen, ['site', 'leave']);
  t.is(left.code, 0, left.stderr);
  t.regex(left.stdout, /left its site/);
  t.not((await readFile(siteSecretPath(kitchen.dataDir), 'utf8')).trim(), (await readFile(siteSecretPath(hall.dataDir), 'utf8')).trim());
  t.is((await api(kitchen, 'GET', '/api/site')).body.units, 0);
});

test('site join without a host asks the units found on the LAN; without the token file the command says how to run it', async (t) => {
  const hall = await freshUnit(t, 'Porch');
  const kitchen = await freshUnit(t, 'Attic');
  kitchen.unit.directory.addCandidate({ host: '127.0.0.1', port: hall.port, source: 'dns-sd' });
  await eventually('Attic sees Porch as untrusted', async () => kitchen.unit.directory.untrusted().length === 1);
  const code = ((await api(hall, 'POST', '/api/site/invitation')).body as { code: string }).code;
  const joined = await onUnit(kitchen, ['site', 'join', code, '--json']);
  t.is(joined.code, 0, joined.stderr);
  t.like(joined.lines[0], { type: 'joined', name: 'Porch' });

  const nowhere = runCli(['site', 'invite', '--data-dir', path.join(os.tmpdir(), 'no-such-intercom-dir'), '--port', '9']);
  const { code: exit, stderr } = await nowhere.exited;
  t.is(exit, 1);
  t.regex(stderr, /has not started/);
});

test('site remove NAME rotates the site\'s secret; status lists the unit that needs re-joining; an unknown name is refused with the units', async (t) => {
  const running = new Set(await Promise.all(['Hall', 'Garage', 'Kitchen'].map((name) => startUnit(name))));
  t.teardown(async () => {
    await Promise.all([...running].map((unit) => unit.close()));
  });
  const [hall, garage, kitchen] = [...running] as [TestUnit, TestUnit, TestUnit];
  await connectUnits(hall, garage, kitchen);
  await eventually('Hall knows both', async () => hall.unit.directory.peers().length === 2);
  running.delete(kitchen);
  await kitchen.close();

  const unknown = await onUnit(hall, ['site', 'remove', 'Cellar']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no unit "Cellar" in this unit's site; its units: Garage \(/);

  const removed = await onUnit(hall, ['site', 'remove', 'garage']);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /Removed Garage: the site has a new secret, and Garage is refused from now on\./);
  t.regex(removed.stdout, /Needs re-joining with a code: Kitchen \(unreachable/);
  t.not(hall.unit.site.currentSecret(), garage.unit.site.currentSecret());

  const status = await onUnit(hall, ['site', 'status']);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /Needs re-joining \(was offline when the site's secret was rotated\): Kitchen/);
  t.regex(status.stdout, /Site secret from: config-replaced/);
});
