import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, packageVersion, runBuildScript } from './support/chroot.js';
import { QemuGuest, freePort } from './support/qemu.js';

// Builds Debian packages and a Raspberry Pi image (minutes to tens of minutes): `npm test` runs
// these in a second, serial pass with INTERCOM_APPLIANCE_TESTS=1, after the rest of the suite.
const applianceTest = process.env.INTERCOM_APPLIANCE_TESTS === '1' ? test : test.skip;

const execFileAsync = promisify(execFile);

// Boots the Raspberry Pi image (INTERCOM_IMAGE, or build/image/…, built if missing) in QEMU with
// a settings file the test writes onto its boot partition, and checks the appliance from outside:
// first-boot setup, the service under systemd (ready, watchdog), its API through a forwarded
// port, and the command-line tools inside the guest.

const BOOT_PARTITION_OFFSET = 4 * 1024 * 1024;
const GUEST_HTTP_PORT = 5000;
const GUEST_CLI_UDP_PORT = 40100;

interface ReceiveFigures {
  packetsReceived: number;
  packetsLost: number;
}

/** The last per-second JSON object an `intercom recv --json` printed. */
function lastFigures(output: string): ReceiveFigures {
  const lines = output.trim().split('\n').filter((line) => line.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON figures in: ${output.slice(-500)}`);
  return JSON.parse(lines.at(-1)!) as ReceiveFigures;
}

async function imageFiles(): Promise<{ image: string; kernel: string; initrd: string }> {
  let image = process.env.INTERCOM_IMAGE ?? join(REPO_ROOT, `build/image/intercom-${packageVersion()}-rpi-arm64.img`);
  if (!existsSync(image)) image = await runBuildScript('image/build-image.sh', []);
  const base = image.replace(/\.img$/, '');
  return { image, kernel: `${base}-vmlinuz`, initrd: `${base}-initrd.img` };
}

applianceTest('the image boots, sets itself up from intercom.txt, and runs the intercom service', async (t) => {
  t.timeout(45 * 60 * 1000);
  const files = await imageFiles();
  const work = mkdtempSync(join(tmpdir(), 'intercom-qemu-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // A copy of the image on a "card" of 3 GiB, so the first boot has room to grow into.
  const disk = join(work, 'card.img');
  await execFileAsync('cp', ['--sparse=always', files.image, disk]);
  await execFileAsync('truncate', ['-s', '3G', disk]);
  const key = join(work, 'id_ed25519');
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'qemu-boot-test', '-f', key]);
  const settings = join(work, 'intercom.txt');
  writeFileSync(settings, ['# written by the boot test', 'unit_name=QEMU Test Unit', `ssh_key=${readFileSync(`${key}.pub`, 'utf8').trim()}`, ''].join('\n'));
  await execFileAsync('mcopy', ['-o', '-i', `${disk}@@${BOOT_PARTITION_OFFSET}`, settings, '::intercom.txt']);

  const httpPort = await freePort('tcp');
  const cliUdpPort = await freePort('udp');
  const sshPort = await freePort('tcp');
  const bootStarted = Date.now();
  const guest = QemuGuest.boot({
    disk,
    kernel: files.kernel,
    initrd: files.initrd,
    serialLog: join(work, 'serial.log'),
    sshKey: key,
    sshPort,
    forwards: [
      { protocol: 'tcp', hostPort: httpPort, guestPort: GUEST_HTTP_PORT },
      { protocol: 'udp', hostPort: cliUdpPort, guestPort: GUEST_CLI_UDP_PORT },
    ],
  });
  t.teardown(() => guest.dispose());
  const failWithSerial = (message: string) => `${message}\n--- serial console ---\n${guest.serialTail()}`;

  const sshAfterMs = await guest.waitForSsh(10 * 60 * 1000);
  t.log(`ssh answered ${(sshAfterMs / 1000).toFixed(0)} s after qemu started`);

  // First boot: settings applied, root grown, no persistent journal.
  t.is((await guest.ssh('hostname')).stdout.trim(), 'qemu-test-unit');
  const status = JSON.parse((await guest.ssh('cat /run/intercom-setup/status.json')).stdout) as { sshLogin: string; problems: string[] };
  t.is(status.sshLogin, 'key');
  t.deepEqual(status.problems, []);
  t.regex((await guest.ssh('sudo sshd -T')).stdout, /^passwordauthentication no$/m);
  const rootBytes = Number((await guest.ssh('findmnt -bno SIZE /')).stdout.trim());
  t.true(rootBytes > 2.5 * 1024 ** 3, `root file system is ${rootBytes} bytes: it did not grow`);
  // The journal lives in RAM: files under /run/log/journal, none on the card.
  t.is((await guest.ssh('sudo find /var/log/journal -type f -name "*.journal" | wc -l')).stdout.trim(), '0');
  t.not((await guest.ssh('sudo find /run/log/journal -type f -name "*.journal" | wc -l')).stdout.trim(), '0');

  // The service reaches ready under systemd: for Type=notify, "active" means READY=1 arrived.
  await guest.ssh('timeout 600 sh -c "until systemctl is-active -q intercom.service; do sleep 2; done"', 660_000).catch(async () => {
    const journal = await guest.ssh('sudo journalctl -u intercom.service --no-pager | tail -n 40').catch(() => ({ stdout: '' }));
    t.fail(failWithSerial(`intercom.service never became active:\n${journal.stdout}`));
  });
  t.log(`intercom.service active ${((Date.now() - bootStarted) / 1000).toFixed(0)} s after qemu started`);
  const show = (await guest.ssh('systemctl show intercom.service -p Type -p ActiveState -p SubState -p WatchdogUSec -p NRestarts -p User')).stdout;
  t.regex(show, /^Type=notify$/m);
  t.regex(show, /^ActiveState=active$/m);
  t.regex(show, /^SubState=running$/m);
  t.regex(show, /^WatchdogUSec=30s$/m);
  t.regex(show, /^User=intercom$/m);

  // Its API answers through the forwarded port.
  const health = await fetch(`http://127.0.0.1:${httpPort}/api/health`);
  t.is(health.status, 200, failWithSerial('GET /api/health'));
  t.log(`/api/health: ${JSON.stringify(await health.json())}`);

  // intercom send / recv inside the guest, over its loopback.
  const loopback = await guest.ssh(
    `intercom recv ${GUEST_CLI_UDP_PORT} --wav /tmp/loop.wav --json > /tmp/recv.json 2>/tmp/recv.err & receiver=$!; ` +
      `until ss -Hlun "sport = :${GUEST_CLI_UDP_PORT}" | grep -q .; do sleep 0.5; done; ` +
      `intercom send 127.0.0.1 ${GUEST_CLI_UDP_PORT} --seconds 3 --json > /tmp/send.json; sleep 2; ` +
      `kill -INT $receiver; wait $receiver; cat /tmp/recv.json`,
    240_000,
  );
  const guestFigures = lastFigures(loopback.stdout);
  t.true(guestFigures.packetsReceived >= 140, `guest loopback received ${guestFigures.packetsReceived} packets of 150`);

  // From this machine into the guest through the forwarded UDP port.
  const guestReceiver = guest.ssh(`intercom recv ${GUEST_CLI_UDP_PORT} --wav /tmp/fromhost.wav --seconds 20 --json`, 180_000);
  // Node starts slowly under emulation: send once the receiver's socket is bound.
  await guest.ssh(`timeout 120 sh -c 'until ss -Hlun "sport = :${GUEST_CLI_UDP_PORT}" | grep -q .; do sleep 0.5; done'`, 150_000);
  await execFileAsync('npx', ['tsx', join(REPO_ROOT, 'src/cli/intercom.ts'), 'send', '127.0.0.1', String(cliUdpPort), '--seconds', '3', '--json'], {
    cwd: REPO_ROOT,
  });
  const hostFigures = lastFigures((await guestReceiver).stdout);
  t.true(hostFigures.packetsReceived >= 140, `the guest received ${hostFigures.packetsReceived} packets of 150 from the host`);

  // The watchdog pinged all along (no restarts after minutes of running); a stopped event loop
  // gets the service restarted by systemd.
  t.regex((await guest.ssh('systemctl show intercom.service -p NRestarts')).stdout, /^NRestarts=0$/m);
  const stoppedAt = Date.now();
  await guest.ssh('sudo kill -STOP "$(systemctl show intercom.service -p MainPID --value)"');
  await guest.ssh(
    `timeout 300 sh -c 'until [ "$(systemctl show intercom.service -p NRestarts --value)" -ge 1 ]; do sleep 2; done'`,
    330_000,
  );
  const journal = (await guest.ssh('sudo journalctl -u intercom.service --no-pager -o cat')).stdout;
  t.regex(journal, /[Ww]atchdog timeout/);
  await guest.ssh('timeout 600 sh -c "until systemctl is-active -q intercom.service; do sleep 2; done"', 660_000);
  t.log(`a stopped event loop was restarted and ready again after ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s`);
});
