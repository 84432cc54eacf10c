import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const unitTemplate = readFileSync(new URL('../../systemd/intercom.service', import.meta.url), 'utf8');

/** The unit as the Debian package installs it. */
function renderUnit(appDir = '/usr/lib/intercom'): string {
  return unitTemplate.replaceAll('@APP_DIR@', appDir);
}

/** Directive values of the [Service] section, by name (repeated directives keep every value). */
function serviceDirectives(unit: string): Map<string, string[]> {
  const section = unit.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  const directives = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) directives.set(match[1]!, [...(directives.get(match[1]!) ?? []), match[2]!]);
  }
  return directives;
}

function withUnitFile<T>(content: string, use: (path: string) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), 'intercom-unit-'));
  const path = join(directory, 'intercom.service');
  writeFileSync(path, content);
  return use(path).finally(() => rmSync(directory, { recursive: true, force: true }));
}

test('systemd-analyze verify accepts the unit as packaged', async (t) => {
  await withUnitFile(renderUnit(), async (path) => {
    const { stderr } = await execFileAsync('systemd-analyze', ['verify', path]);
    t.is(stderr.trim(), '');
  });
});

test('systemd-analyze verify rejects a broken unit (the check can fail)', async (t) => {
  await withUnitFile(renderUnit().replace('Type=notify', 'Type=notifyy'), async (path) => {
    const result = await execFileAsync('systemd-analyze', ['verify', path]).then(
      ({ stderr }) => stderr,
      (error: { stderr: string }) => error.stderr,
    );
    t.regex(result, /Failed to parse service type/);
  });
});

test('the unit is a notify service with a watchdog, its own user, and restarts', (t) => {
  const service = serviceDirectives(renderUnit());
  t.deepEqual(service.get('Type'), ['notify']);
  t.regex(service.get('WatchdogSec')?.[0] ?? '', /^\d+s$/);
  t.deepEqual(service.get('Restart'), ['always']);
  t.deepEqual(service.get('User'), ['intercom']);
  t.deepEqual(service.get('StateDirectory'), ['intercom']);
  t.deepEqual(service.get('ExecStart'), ['/usr/bin/env node --max-semi-space-size=1 --v8-pool-size=1 --heap-growing-percent=30 /usr/lib/intercom/dist/main.js']);
  t.true(service.get('Environment')?.includes('NODE_CONFIG_DIR=/usr/lib/intercom/config:/etc/intercom'));
});

test('the unit gets room for its file descriptors, of which it gives connections at most half', (t) => {
  const limit = Number(serviceDirectives(renderUnit()).get('LimitNOFILE')?.[0]);
  t.true(limit >= 2048 && limit <= 65536, `LimitNOFILE=${limit}`);
});

test('the hardening keeps ALSA devices and sysfs GPIO writable', (t) => {
  const service = serviceDirectives(renderUnit());
  for (const directive of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) t.deepEqual(service.get(directive), ['yes'], directive);
  t.deepEqual(service.get('ProtectSystem'), ['strict']);
  // Each of these would take /dev/snd or writes to /sys/class/gpio away from the service.
  for (const directive of ['PrivateDevices', 'ProtectKernelTunables', 'DevicePolicy', 'DeviceAllow', 'ProtectClock', 'PrivateUsers']) {
    t.false(service.has(directive), `${directive} must not be set`);
  }
});

test('systemd-analyze rates the unit\'s exposure as OK or better', async (t) => {
  await withUnitFile(renderUnit(), async (path) => {
    const { stdout } = await execFileAsync('systemd-analyze', ['security', '--offline=yes', path]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout }),
    );
    const level = /Overall exposure level for intercom\.service: ([\d.]+) (\w+)/.exec(stdout);
    t.truthy(level, stdout.slice(-500));
    t.true(Number(level![1]) <= 4.0, `exposure ${level![1]} ${level![2]}`);
  });
});
