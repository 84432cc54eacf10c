import test from 'ava';
import { pbkdf2Sync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyGpioBootConfig,
  applyPanelPassword,
  GPIO_BLOCK_BEGIN,
  GPIO_BLOCK_END,
  gpioBootLines,
  hostnameFor,
  parseSettings,
  scrubSetting,
  settingsToConfig,
  withGpioBlock,
  wpaSupplicantConfig,
  applySiteSecret,
  // @ts-expect-error: a plain ES module shipped in the image, without type declarations
} from '../../image/overlay/usr/lib/intercom-image/settings.mjs';
import { readPanelPassword, verifyPanelPassword } from '../../src/security/people-password.js';

/** `intercom` from this checkout, as /usr/bin/intercom runs it on a unit. */
const INTERCOM_FROM_SOURCE = [process.execPath, '--import', 'tsx', fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url))];
const SHIPPED_SETTINGS = fileURLToPath(new URL('../../image/overlay/boot/firmware/intercom.txt', import.meta.url));

const shippedDefaults = {
  unit: { name: 'intercom' },
  audio: { captureDevice: 'default', playbackDevice: 'default', udpPort: 40000 },
  gpio: { enabled: true, callButton: 5, answerButton: 6, ringLed: 13, doorRelay: null, activeLow: true },
};
const withSite = { ...shippedDefaults, site: { secret: null } };

test('key=value lines, whole-line comments, values that hold # and =', (t) => {
  const { values, problems } = parseSettings(
    '\uFEFF# comment\r\nunit_name = Front Door \r\nwifi_password=a#b=c\nssh_key=\n\nsite_secret=s3cret\n',
  );
  t.deepEqual([...values.entries()], [['unit_name', 'Front Door'], ['wifi_password', 'a#b=c'], ['site_secret', 's3cret']]);
  t.deepEqual(problems, []);
});

test('unknown keys and lines without = are reported, not applied', (t) => {
  const { values, problems } = parseSettings('colour=blue\njust words\nunit_name=x\n');
  t.deepEqual([...values.keys()], ['unit_name']);
  t.is(problems.length, 2);
  t.regex(problems[0], /line 1: unknown setting "colour"/);
  t.regex(problems[1], /line 2: expected key=value/);
});

test('settings become typed service configuration for the keys this version knows', (t) => {
  const { values } = parseSettings('unit_name=Front Door\nsound_device=plughw:CARD=Device\ngpio_call=17\ngpio_door=22\ngpio_active_low=no\nsite_secret=abcdefghijklmnopq\n');
  const { config, problems } = settingsToConfig(values, shippedDefaults);
  t.deepEqual(config, {
    unit: { name: 'Front Door' },
    audio: { captureDevice: 'plughw:CARD=Device', playbackDevice: 'plughw:CARD=Device' },
    gpio: { callButton: 17, doorRelay: 22, activeLow: false },
  });
  // The defaults above have no site section: the secret is reported, not written where it would be rejected.
  t.deepEqual(problems, ['site_secret: this version of the intercom has no setting site.secret; ignored']);
});

test('a pin that is not a number is a problem, not a config value', (t) => {
  const { config, problems } = settingsToConfig(new Map([['gpio_call', 'seventeen']]), shippedDefaults);
  t.deepEqual(config, {});
  t.deepEqual(problems, ['gpio_call: "seventeen" is not a BCM pin number (0 to 57)']);
});

test('the site secret stays text, and one the service would refuse is reported instead of written', (t) => {
  t.deepEqual(settingsToConfig(new Map([['site_secret', '1234567890123456']]), withSite), { config: { site: { secret: '1234567890123456' } }, problems: [] });
  const { config, problems } = settingsToConfig(new Map([['site_secret', 'too short']]), withSite);
  t.deepEqual(config, {});
  t.deepEqual(problems, ['site_secret: must be 16 to 256 characters without spaces']);
  t.deepEqual(settingsToConfig(new Map([['gpio_door', 'none']]), shippedDefaults).config, { gpio: { doorRelay: null } });
});

test('unit names become valid hostnames', (t) => {
  t.is(hostnameFor('Front Door'), 'front-door');
  t.is(hostnameFor('Küche / Hof #2'), 'kuche-hof-2');
  t.is(hostnameFor('---'), 'intercom');
  t.is(hostnameFor('x'.repeat(80)).length, 63);
});

test('Wi-Fi settings need no quoting: hex SSID and the derived PSK', (t) => {
  const config = wpaSupplicantConfig({ ssid: 'My "home" net', password: 'pa ss"word#1', country: 'de' });
  t.regex(config, /^country=DE$/m);
  t.regex(config, new RegExp(`^\\tssid=${Buffer.from('My "home" net').toString('hex')}$`, 'm'));
  t.regex(config, new RegExp(`^\\tpsk=${pbkdf2Sync('pa ss"word#1', 'My "home" net', 4096, 32, 'sha1').toString('hex')}$`, 'm'));
  t.regex(wpaSupplicantConfig({ ssid: 'open' }), /key_mgmt=NONE/);
  t.throws(() => wpaSupplicantConfig({ ssid: 'x', password: 'short' }), { message: /8 to 63/ });
});

test('the shipped settings file offers panel_password, empty (there is no default password)', async (t) => {
  const { values, problems } = parseSettings(await readFile(SHIPPED_SETTINGS, 'utf8'));
  t.deepEqual(problems, []);
  t.false(values.has('panel_password'));
  t.regex(await readFile(SHIPPED_SETTINGS, 'utf8'), /^panel_password=$/m);
  const { values: given, problems: none } = parseSettings('panel_password = pass#word=with signs \n');
  t.deepEqual([...given.entries()], [['panel_password', 'pass#word=with signs']]);
  t.deepEqual(none, []);
  t.deepEqual(settingsToConfig(given, shippedDefaults), { config: {}, problems: [] }, 'the password never goes into the service configuration');
});

test('panel_password is hashed into the data dir by `intercom password`, then removed from the settings file', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-settings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'var-lib-intercom');
  const settingsPath = path.join(dir, 'intercom.txt');
  const settingsText = '# settings\nunit_name=Hall\npanel_password=  open sesame 42 \nssh_key=\n';
  await writeFile(settingsPath, settingsText);
  const { values } = parseSettings(settingsText);
  // The unit's configuration tells the command where the data dir is, as /etc/intercom does on a unit.
  const env = { ...process.env, NODE_CONFIG: JSON.stringify({ dataDir }), SUPPRESS_NO_CONFIG_WARNING: 'y' };
  const written = applyPanelPassword({
    password: values.get('panel_password'),
    settingsText,
    settingsPath,
    command: INTERCOM_FROM_SOURCE,
    env,
    today: new Date('2026-11-25T10:00:00Z'),
  });
  const record = await readPanelPassword(dataDir);
  t.truthy(record, 'the hash is in the data dir');
  t.true(await verifyPanelPassword(record!, 'open sesame 42'));
  const after = await readFile(settingsPath, 'utf8');
  t.is(after, written);
  t.is(after, '# settings\nunit_name=Hall\n# panel_password was set on 2026-11-25; write a new line to change it\nssh_key=\n');
  t.false(after.includes('sesame'));
  t.deepEqual(parseSettings(after).problems, [], 'the file still parses');

  // A password the unit refuses is not applied, and does not stay in the file either.
  const shortText = 'PANEL_PASSWORD=short\n';
  await writeFile(settingsPath, shortText);
  t.throws(() => applyPanelPassword({ password: 'short', settingsText: shortText, settingsPath, command: INTERCOM_FROM_SOURCE, env }), { message: /at least 8/ });
  const refused = await readFile(settingsPath, 'utf8');
  t.regex(refused, /^# panel_password was NOT set on \d{4}-\d\d-\d\d \(the password is 5 characters long; at least 8 are needed/);
  t.false(/short\n|=short/.test(refused));
  t.true(await verifyPanelPassword((await readPanelPassword(dataDir))!, 'open sesame 42'), 'the earlier password stays');
});

test('site_secret goes into the service configuration once, then leaves the card: later boots keep it, a new line replaces it', (t) => {
  const boot = (settingsText: string, previousConfig: unknown, date: string) => {
    const { values } = parseSettings(settingsText);
    const { config, problems } = settingsToConfig(values, withSite);
    return applySiteSecret({ values, config, configProblems: problems, previousConfig, settingsText, today: new Date(`${date}T08:00:00Z`) });
  };
  // First boot: the secret is applied, and its line becomes a comment saying so.
  const first = boot('unit_name=Gate\nsite_secret=first-secret-of-the-site\nssh_key=\n', null, '2026-11-25');
  t.deepEqual(first.config, { unit: { name: 'Gate' }, site: { secret: 'first-secret-of-the-site' } });
  t.is(first.settingsText, 'unit_name=Gate\n# site_secret was applied on 2026-11-25; write a new line to change it\nssh_key=\n');
  t.false(first.settingsText.includes('first-secret-of-the-site'), 'the secret is gone from the card');
  t.deepEqual(parseSettings(first.settingsText).problems, [], 'the file still parses');

  // Every later boot: no secret on the card, the applied one stays, nothing is written.
  const later = boot(first.settingsText, first.config, '2026-11-26');
  t.deepEqual(later.config, first.config);
  t.is(later.settingsText, first.settingsText);

  // A new line replaces it, and leaves the card too.
  const changed = boot(`${later.settingsText}site_secret=second-secret-of-the-site\n`, later.config, '2026-12-01');
  t.deepEqual(changed.config.site, { secret: 'second-secret-of-the-site' });
  t.regex(changed.settingsText, /^# site_secret was applied on 2026-12-01/m);
  t.false(changed.settingsText.includes('second-secret'));

  // A secret the service would refuse is not applied, not kept on the card, and the one before stays.
  const refused = boot('site_secret=too short\n', changed.config, '2026-12-02');
  t.deepEqual(refused.config.site, { secret: 'second-secret-of-the-site' });
  t.is(refused.settingsText, '# site_secret was NOT applied on 2026-12-02 (must be 16 to 256 characters without spaces); write a new line to change it\n');
});

test('scrubbing a setting replaces every line of it, whatever its case and spacing', (t) => {
  t.is(scrubSetting('a=1\n ssh_password = x\nSSH_PASSWORD=y\n', 'ssh_password', 'was set'), 'a=1\n# ssh_password was set; write a new line to change it\n# ssh_password was set; write a new line to change it\n');
});

// ---- GPIO pins in the firmware's config.txt ----------------------------------------------------

/** config.txt as raspi-firmware's kernel hook writes it (shortened): its text, then the custom file. */
const GENERATED_HEAD = '# Do not modify this file!\n\narm_64bit=1\n\nenable_uart=1\nupstream_kernel=1\n\nkernel=vmlinuz-6.12\ninitramfs initrd.img-6.12\n';
function generatedConfigTxt(customText: string): string {
  // The hook appends `$(cat raspi-firmware-custom)`, which drops trailing newlines, then one newline.
  return `${GENERATED_HEAD}\n# Inserted by /etc/default/raspi-firmware-custom\n${customText.replace(/\n+$/, '')}\n`;
}

const gpioLines = (text: string) => text.split('\n').filter((line) => line.startsWith('gpio='));
const blockCount = (text: string) => text.split('\n').filter((line) => line === GPIO_BLOCK_BEGIN).length;

test('the boot-time GPIO lines: pull-up for buttons to ground, pull-down for buttons to 3.3 V, outputs at their off level', (t) => {
  const defaults = shippedDefaults.gpio;
  t.deepEqual(gpioLines(gpioBootLines(defaults).lines.join('\n')), ['gpio=5,6=ip,pu', 'gpio=13=op,dl']);
  t.deepEqual(gpioBootLines(defaults).problems, []);
  t.deepEqual(gpioLines(gpioBootLines({ ...defaults, callButton: 9, answerButton: 10, activeLow: false }).lines.join('\n')), ['gpio=9,10=ip,pd', 'gpio=13=op,dl']);
  t.deepEqual(gpioLines(gpioBootLines({ ...defaults, doorRelay: 26 }).lines.join('\n')), ['gpio=5,6=ip,pu', 'gpio=13=op,dl', 'gpio=26=op,dl']);
  t.deepEqual(gpioLines(gpioBootLines({ ...defaults, doorRelay: 26, doorRelayActiveLow: true }).lines.join('\n')), ['gpio=5,6=ip,pu', 'gpio=13=op,dl', 'gpio=26=op,dh'], 'a relay that switches on low rests high');
  t.is(gpioBootLines(defaults).lines[0], '[all]', 'not hidden by a [pi4]-style section left open above');
});

test('pins off the 40-pin header, GPIO turned off, or pins on another chip set nothing', (t) => {
  const defaults = shippedDefaults.gpio;
  const offHeader = gpioBootLines({ ...defaults, answerButton: 45 });
  t.deepEqual(gpioLines(offHeader.lines.join('\n')), ['gpio=5=ip,pu', 'gpio=13=op,dl']);
  t.deepEqual(offHeader.problems, ['gpio.answerButton: BCM 45 is not on the 40-pin header (GPIO0 to GPIO27); config.txt does not set it']);
  t.deepEqual(gpioLines(gpioBootLines({ ...defaults, enabled: false }).lines.join('\n')), []);
  const otherChip = gpioBootLines({ ...defaults, chipLabel: '9030000.pl061' });
  t.deepEqual(gpioLines(otherChip.lines.join('\n')), []);
  t.regex(otherChip.lines.join('\n'), /9030000\.pl061/);
});

test('the managed block is replaced where it is, never duplicated, and what is around it stays', (t) => {
  const around = 'dtparam=audio=on\n\n[pi4]\narm_boost=1\n';
  const once = withGpioBlock(around, ['gpio=5,6=ip,pu']);
  t.is(once, `dtparam=audio=on\n\n[pi4]\narm_boost=1\n\n${GPIO_BLOCK_BEGIN}\ngpio=5,6=ip,pu\n${GPIO_BLOCK_END}\n`);
  t.is(withGpioBlock(once, ['gpio=5,6=ip,pu']), once, 'the same lines again change nothing');
  const moved = withGpioBlock(`${once}dtoverlay=foo\n`, ['gpio=9=ip,pu']);
  t.is(moved, `dtparam=audio=on\n\n[pi4]\narm_boost=1\n\n${GPIO_BLOCK_BEGIN}\ngpio=9=ip,pu\n${GPIO_BLOCK_END}\ndtoverlay=foo\n`, 'replaced in place');
  // Two blocks (pasted by hand) become one, at the first one's place.
  const twice = `${GPIO_BLOCK_BEGIN}\ngpio=1=ip\n${GPIO_BLOCK_END}\nkeep=1\n${GPIO_BLOCK_BEGIN}\ngpio=2=ip\n${GPIO_BLOCK_END}\n`;
  t.is(withGpioBlock(twice, ['gpio=3=ip,pd']), `${GPIO_BLOCK_BEGIN}\ngpio=3=ip,pd\n${GPIO_BLOCK_END}\nkeep=1\n`);
  // A block whose END line was deleted ends at the next empty line; what follows stays.
  t.is(withGpioBlock(`${GPIO_BLOCK_BEGIN}\ngpio=1=ip\n\nkeep=1\n`, ['gpio=3=ip,pd']), `${GPIO_BLOCK_BEGIN}\ngpio=3=ip,pd\n${GPIO_BLOCK_END}\n\nkeep=1\n`);
  t.is(withGpioBlock('', ['gpio=3=ip,pd']), `${GPIO_BLOCK_BEGIN}\ngpio=3=ip,pd\n${GPIO_BLOCK_END}\n`);
});

/** A unit's files in a temp dir: shipped defaults, /etc/intercom, /etc/default, the boot partition. */
async function unitFiles(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-gpio-boot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const paths = {
    shippedConfigPath: path.join(dir, 'usr-lib-intercom', 'default.json'),
    unitConfigDir: path.join(dir, 'etc-intercom'),
    firmwareCustomPath: path.join(dir, 'etc-default', 'raspi-firmware-custom'),
    configTxtPath: path.join(dir, 'boot-firmware', 'config.txt'),
  };
  for (const directory of [path.dirname(paths.shippedConfigPath), paths.unitConfigDir, path.dirname(paths.firmwareCustomPath), path.dirname(paths.configTxtPath)]) {
    await mkdir(directory, { recursive: true });
  }
  await writeFile(paths.shippedConfigPath, JSON.stringify(shippedDefaults));
  return paths;
}

test('intercom.txt moves the buttons to GPIO 9 and 10: config.txt and raspi-firmware-custom get their pull-ups, once, and a kernel upgrade keeps them', async (t) => {
  const paths = await unitFiles(t);
  // As the image leaves them: the admin's own line in the custom file, config.txt generated from it.
  await writeFile(paths.firmwareCustomPath, 'dtparam=i2c_arm=on\n');
  const imageBlock = applyGpioBootConfig(paths);
  t.deepEqual(imageBlock.lines, ['gpio=5,6=ip,pu', 'gpio=13=op,dl']);
  const imageCustom = await readFile(paths.firmwareCustomPath, 'utf8');
  await writeFile(paths.configTxtPath, generatedConfigTxt(imageCustom));

  // First boot with gpio_call=9, gpio_answer=10: the settings step writes production.json, then the pins.
  const { values } = parseSettings('gpio_call=9\ngpio_answer=10\n');
  await writeFile(path.join(paths.unitConfigDir, 'production.json'), JSON.stringify(settingsToConfig(values, shippedDefaults).config));
  const applied = applyGpioBootConfig(paths);
  t.deepEqual(applied, { lines: ['gpio=9,10=ip,pu', 'gpio=13=op,dl'], configTxtChanged: true, problems: [] });
  const configTxt = await readFile(paths.configTxtPath, 'utf8');
  const custom = await readFile(paths.firmwareCustomPath, 'utf8');
  t.deepEqual(gpioLines(configTxt), ['gpio=9,10=ip,pu', 'gpio=13=op,dl']);
  t.is(blockCount(configTxt), 1);
  t.true(configTxt.startsWith(GENERATED_HEAD), 'the rest of config.txt is untouched');
  t.regex(custom, /^dtparam=i2c_arm=on\n/, "the admin's own line stays");
  t.deepEqual(gpioLines(custom), ['gpio=9,10=ip,pu', 'gpio=13=op,dl']);
  t.is(configTxt, generatedConfigTxt(custom), 'config.txt is what the kernel hook will write from the custom file on the next upgrade');

  // Every later boot: nothing changes, nothing is added.
  t.deepEqual(applyGpioBootConfig(paths), { lines: applied.lines, configTxtChanged: false, problems: [] });
  t.is(await readFile(paths.configTxtPath, 'utf8'), configTxt);
  t.is(await readFile(paths.firmwareCustomPath, 'utf8'), custom);

  // An admin's local.json wins over intercom.txt, as it does for the service: buttons to 3.3 V.
  await writeFile(path.join(paths.unitConfigDir, 'local.json'), JSON.stringify({ gpio: { activeLow: false } }));
  t.like(applyGpioBootConfig(paths), { lines: ['gpio=9,10=ip,pd', 'gpio=13=op,dl'], configTxtChanged: true });
  t.is(blockCount(await readFile(paths.configTxtPath, 'utf8')), 1);
});

test('without config.txt, or with a broken local.json, the custom file is still written and the problem is said', async (t) => {
  const paths = await unitFiles(t);
  await writeFile(path.join(paths.unitConfigDir, 'local.json'), '{ "gpio": ');
  const result = applyGpioBootConfig(paths);
  t.deepEqual(result.lines, ['gpio=5,6=ip,pu', 'gpio=13=op,dl']);
  t.false(result.configTxtChanged);
  t.is(result.problems.length, 2);
  t.regex(result.problems[0], /local\.json is not valid JSON/);
  t.regex(result.problems[1], /config\.txt does not exist/);
  t.deepEqual(gpioLines(await readFile(paths.firmwareCustomPath, 'utf8')), ['gpio=5,6=ip,pu', 'gpio=13=op,dl']);
});
