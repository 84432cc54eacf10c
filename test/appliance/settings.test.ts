import test from 'ava';
import { pbkdf2Sync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_KEYS,
  SYSTEM_KEYS,
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
  LEVEL_KEYS,
  levelsToApply,
  applyAudioLevels,
  effectiveLevelsConfig,
  // @ts-expect-error: a plain ES module shipped in the image, without type declarations
} from '../../image/overlay/usr/lib/intercom-image/settings.mjs';
import { readPanelPassword, verifyPanelPassword } from '../../src/security/people-password.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { ConfigError, validateConfig } from '../../src/config/validate.js';

/** `intercom` from this checkout, as /usr/bin/intercom runs it on a unit. */
const INTERCOM_FROM_SOURCE = [process.execPath, '--import', 'tsx', fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url))];
const SHIPPED_SETTINGS = fileURLToPath(new URL('../../image/overlay/boot/firmware/intercom.txt', import.meta.url));
const IMAGE_DOC = fileURLToPath(new URL('../../docs/IMAGE.md', import.meta.url));

/** The service's shipped defaults, as /usr/lib/intercom/config/default.json on a unit. */
const shippedDefaults = JSON.parse(await readFile(fileURLToPath(new URL('../../config/default.json', import.meta.url)), 'utf8'));
/** intercom.txt's settings as the service's configuration, checked by the service's own validateConfig. */
const toConfig = (values: Map<string, string>) => settingsToConfig(values, shippedDefaults, validateConfig);

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

test('settings become typed service configuration', (t) => {
  const { values } = parseSettings('unit_name=Front Door\nsound_device=plughw:CARD=Device\ngpio_call=17\ngpio_door=22\ngpio_active_low=no\nsite_secret=abcdefghijklmnopq\ncall_target=Porter\n');
  const { config, problems } = toConfig(values);
  t.deepEqual(config, {
    unit: { name: 'Front Door' },
    site: { secret: 'abcdefghijklmnopq' },
    audio: { captureDevice: 'plughw:CARD=Device', playbackDevice: 'plughw:CARD=Device' },
    gpio: { callButton: 17, doorRelay: 22, activeLow: false, callTarget: 'Porter' },
  });
  t.deepEqual(problems, []);
});

test('every intercom.txt setting maps onto a real key of the service schema, of the type it reads', (t) => {
  const typeOf: Record<string, (node: any) => boolean> = {
    text: (node) => node.type === 'string',
    'mqtt-url': (node) => node.type === 'string',
    'yes-no': (node) => node.type === 'boolean',
    pin: (node) => node.type === 'integer',
    'pin-or-none': (node) => node.anyOf?.some((option: any) => option.type === 'integer') && node.anyOf?.some((option: any) => option.type === 'null'),
  };
  const entries = Object.entries(CONFIG_KEYS as Record<string, { paths: string[]; kind: string }>);
  t.true(entries.length >= 12);
  for (const [key, { paths, kind }] of entries) {
    t.truthy(typeOf[kind], `${key}: unknown kind ${kind}`);
    for (const path of paths) {
      let node: any = ConfigSchema;
      for (const part of path.split('.')) node = node?.properties?.[part];
      t.truthy(node, `${key} -> ${path}: the schema has no such key`);
      // A string that may also be null (site.secret) reads as text.
      const options = node?.anyOf && (kind === 'text' || kind === 'mqtt-url') ? node.anyOf : [node];
      t.true(options.some((option: any) => typeOf[kind]!(option)), `${key} -> ${path}: the schema's ${JSON.stringify(node?.type ?? node?.anyOf)} is not what a ${kind} setting gives`);
    }
  }
});

test('every setting is in the shipped intercom.txt and in docs/IMAGE.md, and both name only known settings', async (t) => {
  const known = [...Object.keys(CONFIG_KEYS), ...Object.keys(LEVEL_KEYS), ...(SYSTEM_KEYS as string[])];
  const shipped = [...(await readFile(SHIPPED_SETTINGS, 'utf8')).matchAll(/^([a-z_]+)=/gm)].map((match) => match[1]!);
  const documented = [...(await readFile(IMAGE_DOC, 'utf8')).matchAll(/^\| `([a-z_]+)`/gm)].map((match) => match[1]!);
  const documentedInRows = new Set([...(await readFile(IMAGE_DOC, 'utf8')).matchAll(/`([a-z]+(?:_[a-z_]+)?)`/g)].map((match) => match[1]!));
  t.deepEqual([...shipped].sort(), [...known].sort(), 'intercom.txt offers every setting, once');
  for (const key of documented) t.true(known.includes(key), `docs/IMAGE.md documents ${key}, which the image does not know`);
  for (const key of known) t.true(documentedInRows.has(key), `docs/IMAGE.md does not document ${key}`);
});

test('a pin that is not a number is a problem, not a config value', (t) => {
  const { config, problems } = toConfig(new Map([['gpio_call', 'seventeen']]));
  t.deepEqual(config, {});
  t.deepEqual(problems, ['gpio_call: "seventeen" is not a BCM pin number']);
});

test('values the service would refuse are reported with its own reason and left out, the rest is kept', (t) => {
  const { config, problems } = toConfig(new Map([['gpio_call', '60'], ['unit_name', 'Hall'], ['call_target', 'x'.repeat(64)]]));
  t.deepEqual(config, { unit: { name: 'Hall' } });
  t.deepEqual(problems, [
    'gpio_call: config key "gpio.callButton" is 60; expected an integer from 0 to 57; ignored',
    `call_target: config key "gpio.callTarget" is "${'x'.repeat(64)}"; expected a string non-empty; ignored`,
  ]);
});

test('two roles on one pin are refused as the service refuses them; swapped pins are fine', (t) => {
  const clash = toConfig(new Map([['gpio_call', '6']]));
  t.deepEqual(clash.config, {});
  t.deepEqual(clash.problems, ['gpio_call: config key "gpio.answerButton" is BCM 6, which gpio.callButton uses already: each pin can do one job; ignored']);
  t.deepEqual(toConfig(new Map([['gpio_call', '6'], ['gpio_answer', '5']])), { config: { gpio: { callButton: 6, answerButton: 5 } }, problems: [] });
});

test('the site secret stays text, and one the service would refuse is reported (without the secret) instead of written', (t) => {
  t.deepEqual(toConfig(new Map([['site_secret', '1234567890123456']])), { config: { site: { secret: '1234567890123456' } }, problems: [] });
  const { config, problems } = toConfig(new Map([['site_secret', 'too-short']]));
  t.deepEqual(config, {});
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^site_secret: config key "site\.secret" is a hidden string of 9 characters: it must not have fewer than 16 characters; ignored$/);
  t.false(problems[0]!.includes('too-short'), 'the secret stays out of the log');
  t.deepEqual(toConfig(new Map([['gpio_door', 'none']])).config, { gpio: { doorRelay: null } });
});

test('a setting this version of the service does not know is reported and ignored (a newer image on an older package)', (t) => {
  // The service's check as a version without site.secret would answer.
  const olderService = (config: any) => {
    if (config.site?.secret !== undefined && config.site.secret !== null) throw new ConfigError('site.secret', 'is not a known setting (check its spelling)');
    return validateConfig(config);
  };
  const { config, problems } = settingsToConfig(new Map([['site_secret', '1234567890123456'], ['unit_name', 'Hall']]), shippedDefaults, olderService);
  t.deepEqual(config, { unit: { name: 'Hall' } });
  t.deepEqual(problems, ['site_secret: this version of the intercom has no setting site.secret; ignored']);
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
  t.deepEqual(toConfig(given), { config: {}, problems: [] }, 'the password never goes into the service configuration');
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
    const { config, problems } = toConfig(values);
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
  t.is(
    refused.settingsText,
    '# site_secret was NOT applied on 2026-12-02 (config key "site.secret" is a hidden string of 9 characters: it must not have fewer than 16 characters; ignored); write a new line to change it\n',
  );
  t.false(refused.settingsText.includes('too short'), 'a refused secret is not shown either');
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
  t.deepEqual(gpioLines(gpioBootLines({ ...defaults, openButton: 19 }).lines.join('\n')), ['gpio=5,6,19=ip,pu', 'gpio=13=op,dl'], 'the OPEN button gets its pull-up too');
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
  await writeFile(path.join(paths.unitConfigDir, 'production.json'), JSON.stringify(toConfig(values).config));
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

// ---- volume= and mic_gain=: applied only when their value in intercom.txt changes ----------------

test('a level from intercom.txt applies when it differs from the one applied from there last time, never again otherwise', (t) => {
  t.deepEqual(levelsToApply({ volume: 40 }, null), { apply: { volume: 40 }, remember: { volume: 40 } }, 'first time: applied');
  t.deepEqual(levelsToApply({ volume: 40 }, { volume: 40 }), { apply: {}, remember: { volume: 40 } }, 'the same value at the next boot: left alone');
  t.deepEqual(levelsToApply({ volume: 55, micGain: 70 }, { volume: 40 }), { apply: { volume: 55, micGain: 70 }, remember: { volume: 55, micGain: 70 } }, 'changed: applied');
  t.deepEqual(levelsToApply({}, { volume: 55 }), { apply: {}, remember: {} }, 'removed from the file: forgotten');
  t.deepEqual(levelsToApply({ volume: 55 }, {}), { apply: { volume: 55 }, remember: { volume: 55 } }, 'written again after it was removed: applied');
});

/** The levels file as the service stores it (src/audio/audio-levels.ts). */
async function storedLevels(dataDir: string): Promise<{ volume: number; micGain: number; changedBy: string | null }> {
  return JSON.parse(await readFile(path.join(dataDir, 'audio-levels.json'), 'utf8'));
}

test('a reboot does not undo the panel: intercom.txt writes the levels file only when its value changed', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const boot = (text: string) => applyAudioLevels({ values: parseSettings(text).values, dataDir, defaults: { volume: 80, micGain: 50 } });

  // First boot with volume=30: applied; the gain the service has not stored comes from the defaults.
  t.deepEqual(boot('volume=30\n').applied, { volume: 30 });
  t.like(await storedLevels(dataDir), { version: 1, volume: 30, micGain: 50, changedBy: 'intercom.txt' });

  // Someone sets 75 in the panel (the service writes the file); the next boot has the same volume=30.
  const panel = { version: 1, volume: 75, micGain: 50, changedAt: new Date().toISOString(), changedBy: 'api' };
  await writeFile(path.join(dataDir, 'audio-levels.json'), JSON.stringify(panel));
  t.deepEqual(boot('volume=30\n').applied, {});
  t.deepEqual(await storedLevels(dataDir), panel, 'the panel\'s volume stays');

  // The card is edited: volume=60 and mic_gain=65 apply, over the panel's level.
  t.deepEqual(boot('volume=60\nmic_gain=65\n').applied, { volume: 60, micGain: 65 });
  t.like(await storedLevels(dataDir), { volume: 60, micGain: 65, changedBy: 'intercom.txt' });

  // A bad value is a problem, not a level; the good one beside it still counts.
  const bad = boot('volume=loud\nmic_gain=65\n');
  t.deepEqual(bad.applied, {});
  t.deepEqual(bad.problems, ['volume: "loud" is not a whole number from 0 to 100; ignored']);
  t.regex(parseSettings('volume=101\n').problems.join(), /^$/, 'the parser knows the key; the range is checked by applyAudioLevels');
  t.deepEqual(boot('volume=101\n').problems, ['volume: "101" is not a whole number from 0 to 100; ignored']);
});

test('the levels go to the data directory and defaults the unit configuration names', (t) => {
  const { dataDir, defaults } = effectiveLevelsConfig(shippedDefaults, [null, { dataDir: '/srv/intercom', audio: { volume: 20 } }, null, null]);
  t.is(dataDir, '/srv/intercom');
  t.deepEqual(defaults, { volume: 20, micGain: shippedDefaults.audio.micGain });
});
