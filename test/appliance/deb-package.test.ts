import test from 'ava';
import { copyFileSync, existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnpackedRoot, packageVersion, runBuildScript } from './support/chroot.js';

// Builds Debian packages and a Raspberry Pi image (minutes to tens of minutes): `npm test` runs
// these in a second, serial pass with INTERCOM_APPLIANCE_TESTS=1, after the rest of the suite.
const applianceTest = process.env.INTERCOM_APPLIANCE_TESTS === '1' ? test : test.skip;

// Builds intercom_<version>_amd64.deb (or uses INTERCOM_DEB) and installs it with dpkg into a clean
// Debian trixie root that holds only its declared dependencies: the package must install, set up its
// user and service, load every native addon, and leave nothing of its data behind when purged.

applianceTest('the amd64 package installs into Debian trixie, runs, and purges cleanly', async (t) => {
  t.timeout(30 * 60 * 1000);
  const deb = process.env.INTERCOM_DEB ?? (await runBuildScript('scripts/deb/build-deb.sh', ['amd64']));
  t.true(deb.endsWith(`intercom_${packageVersion()}_amd64.deb`), deb);
  const tarball = await runBuildScript('image/rootfs.sh', ['debtest', 'amd64']);
  const root = new UnpackedRoot(tarball);
  t.teardown(() => root.dispose());
  copyFileSync(deb, join(root.path, 'tmp/intercom.deb'));

  await root.run('dpkg -i /tmp/intercom.deb');

  const groups = (await root.run('id -nG intercom')).stdout.split(/\s+/);
  t.true(groups.includes('audio'), groups.join(' '));
  t.true(groups.includes('gpio'), groups.join(' '));
  t.regex((await root.run('getent passwd intercom')).stdout, /^intercom:x:\d+:\d+:.*:\/var\/lib\/intercom:\/usr\/sbin\/nologin/);
  const wants = join(root.path, 'etc/systemd/system/multi-user.target.wants/intercom.service');
  t.true(lstatSync(wants).isSymbolicLink(), 'the service is enabled');
  const conffiles = (await root.run("dpkg-query -W -f='${Conffiles}' intercom")).stdout;
  t.regex(conffiles, /\/etc\/intercom\/local\.json [0-9a-f]{32}/);

  // Every native addon in the package loads in trixie's Node.
  const addons = (await root.run("find /usr/lib/intercom -name '*.node' -path '*/Release/*'")).stdout.trim().split('\n');
  t.true(addons.some((addon) => addon.endsWith('opus_addon.node')), addons.join(' '));
  t.true(addons.some((addon) => addon.endsWith('unix_dgram.node')), addons.join(' '));
  for (const addon of addons) {
    await t.notThrowsAsync(root.run(`node -e 'require(process.argv[1])' ${addon}`), addon);
  }
  const opusVersion = (
    await root.run(`node -e 'console.log(require(process.argv[1]).version())' /usr/lib/intercom/src/codec/opus-native/build/Release/opus_addon.node`)
  ).stdout;
  t.regex(opusVersion, /libopus/);

  // The command-line wrapper runs the packaged CLI with the unit's configuration.
  const help = await root.run('intercom --help');
  t.regex(help.stdout, /send/);
  t.regex(help.stdout, /recv/);

  // Purge removes the unit's data (and its service state), not the system user.
  mkdirSync(join(root.path, 'var/lib/intercom'), { recursive: true });
  writeFileSync(join(root.path, 'var/lib/intercom/identity.json'), '{}');
  await root.run('dpkg --purge intercom');
  t.false(existsSync(join(root.path, 'var/lib/intercom')));
  t.false(existsSync(join(root.path, 'usr/lib/intercom/dist')));
  t.false(existsSync(join(root.path, 'etc/intercom/local.json')));
  t.false(existsSync(wants));
});
