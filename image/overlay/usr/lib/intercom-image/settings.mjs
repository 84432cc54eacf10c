#!/usr/bin/env node
// Applies intercom.txt, the settings file on the image's boot partition that anyone can edit from
// a PC after flashing (format: docs/IMAGE.md). Runs at every boot before the network, ssh and the
// intercom service start (intercom-setup.service):
//   node settings.mjs --apply /boot/firmware/intercom.txt
// The image build sets the GPIO pins of the shipped configuration in the firmware's config.txt:
//   node settings.mjs --gpio-boot-config
// The parsing and mapping functions are exported for the tests (test/appliance/settings.test.ts).
import { execFileSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** intercom.txt keys for Home Assistant over MQTT (docs/HOME-ASSISTANT.md); the service validates the values. */
export const MQTT_KEYS = {
  mqtt_url: { paths: ['mqtt.url'], kind: 'mqtt-url' },
  mqtt_username: { paths: ['mqtt.username'], kind: 'text' },
  mqtt_password: { paths: ['mqtt.password'], kind: 'text' },
  mqtt_topic_prefix: { paths: ['mqtt.topicPrefix'], kind: 'text' },
  mqtt_discovery_prefix: { paths: ['mqtt.discoveryPrefix'], kind: 'text' },
  mqtt_ca_file: { paths: ['mqtt.caFile'], kind: 'text' },
  mqtt_allow_door_open: { paths: ['mqtt.allowDoorOpen'], kind: 'yes-no' },
};

/**
 * intercom.txt keys that become service configuration: config paths (dotted) and how the text is
 * read (text, a yes/no, a whole number, a whole number or none). What values are allowed is the
 * service's own schema's business: settingsToConfig checks them with its validateConfig.
 */
export const CONFIG_KEYS = {
  unit_name: { paths: ['unit.name'], kind: 'text' },
  site_secret: { paths: ['site.secret'], kind: 'text' },
  sound_device: { paths: ['audio.captureDevice', 'audio.playbackDevice'], kind: 'text' },
  capture_device: { paths: ['audio.captureDevice'], kind: 'text' },
  playback_device: { paths: ['audio.playbackDevice'], kind: 'text' },
  gpio_enabled: { paths: ['gpio.enabled'], kind: 'yes-no' },
  gpio_call: { paths: ['gpio.callButton'], kind: 'pin' },
  gpio_answer: { paths: ['gpio.answerButton'], kind: 'pin' },
  gpio_led: { paths: ['gpio.ringLed'], kind: 'pin' },
  gpio_door: { paths: ['gpio.doorRelay'], kind: 'pin-or-none' },
  gpio_open: { paths: ['gpio.openButton'], kind: 'pin-or-none' },
  gpio_active_low: { paths: ['gpio.activeLow'], kind: 'yes-no' },
  call_target: { paths: ['gpio.callTarget'], kind: 'text' },
  auto_answer: { paths: ['calls.autoAnswer.enabled'], kind: 'yes-no' },
  ...MQTT_KEYS,
};
/**
 * intercom.txt keys for the speaker volume and the microphone gain (0-100). They are not service
 * configuration: they set the levels the service keeps in its data directory, and only when their
 * value in intercom.txt changed (applyAudioLevels), so a reboot never undoes what the panel set.
 */
export const LEVEL_KEYS = { volume: 'volume', mic_gain: 'micGain' };
/** intercom.txt keys the system uses itself. */
export const SYSTEM_KEYS = ['wifi_ssid', 'wifi_password', 'wifi_country', 'ssh_key', 'ssh_password', 'panel_password'];
/** The intercom command line, which knows where the service keeps its data (its configuration says). */
export const INTERCOM_COMMAND = ['/usr/bin/intercom'];

/**
 * Reads key=value lines. Only whole lines starting with # are comments, so a password may hold a
 * '#'; spaces around keys and values are dropped. Unknown keys and malformed lines are reported.
 */
export function parseSettings(text) {
  const values = new Map();
  const problems = [];
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.replace(/^\uFEFF/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const equals = line.indexOf('=');
    if (equals <= 0) {
      problems.push(`line ${index + 1}: expected key=value, found "${line}"`);
      return;
    }
    const key = line.slice(0, equals).trim().toLowerCase();
    const value = line.slice(equals + 1).trim();
    if (!(key in CONFIG_KEYS) && !(key in LEVEL_KEYS) && !SYSTEM_KEYS.includes(key)) {
      problems.push(`line ${index + 1}: unknown setting "${key}"`);
      return;
    }
    if (value !== '') values.set(key, value);
  });
  return { values, problems };
}

function setPath(object, path, value) {
  const parts = path.split('.');
  let node = object;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts.at(-1)] = value;
}

/** A setting's text as the JSON type its kind needs; throws with a message for the settings file. */
function typed(text, kind) {
  switch (kind) {
    case 'pin':
    case 'pin-or-none': {
      if (kind === 'pin-or-none' && /^(none|no|off)$/i.test(text)) return null;
      if (!/^\d+$/.test(text)) throw new Error(`"${text}" is not a BCM pin number`);
      return Number(text);
    }
    case 'yes-no':
      if (/^(yes|true|on|1)$/i.test(text)) return true;
      if (/^(no|false|off|0)$/i.test(text)) return false;
      throw new Error(`"${text}" is not yes or no`);
    case 'mqtt-url':
      // Checked here too: a typo on the card must not keep the service (and so the intercom) from starting.
      if (!/^mqtts?:\/\/[^\s/@]+\/?$/.test(text)) throw new Error('is not mqtt://host[:port] or mqtts://host[:port] (not shown: it may hold a password; user and password go in mqtt_username and mqtt_password)');
      return text;
    default:
      return text;
  }
}

/** `base` with `overrides` merged in, as node-config merges files (objects deeply, the rest replaced). */
function merged(base, overrides) {
  const result = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    const inner = result[name];
    const bothObjects = [inner, value].every((part) => part !== null && typeof part === 'object' && !Array.isArray(part));
    result[name] = bothObjects ? merged(inner, value) : value;
  }
  return result;
}

/**
 * The intercom.txt keys a ConfigError of the service's validateConfig is about: those setting its
 * key, else those whose config paths its message names (two roles on one pin), else those under it.
 */
function keysBehind(error, keys) {
  const paths = (key) => CONFIG_KEYS[key].paths;
  const exact = keys.filter((key) => paths(key).includes(error.key));
  if (exact.length > 0) return exact;
  const named = keys.filter((key) => paths(key).some((path) => new RegExp(`\\b${path.replace('.', '\\.')}\\b`).test(error.message)));
  if (named.length > 0) return named;
  return keys.filter((key) => paths(key).some((path) => path.startsWith(`${error.key}.`)));
}

/**
 * The service configuration the settings ask for, checked by the service's own `validateConfig`
 * (src/config/validate.ts; /usr/lib/intercom/dist/config/validate.js on a unit) over the shipped
 * defaults: a setting the service would refuse is reported and left out, never written, so a bad
 * line in intercom.txt cannot stop the service. A key this version of the service does not know
 * is reported and ignored too, so a newer settings file never stops an older service.
 */
export function settingsToConfig(values, shippedDefaults, validateConfig) {
  const problems = [];
  const chosen = new Map();
  for (const [key, { kind }] of Object.entries(CONFIG_KEYS)) {
    const text = values.get(key);
    if (text === undefined) continue;
    try {
      chosen.set(key, typed(text, kind));
    } catch (error) {
      problems.push(`${key}: ${error.message}`);
    }
  }
  for (;;) {
    const config = {};
    for (const [key, value] of chosen) for (const path of CONFIG_KEYS[key].paths) setPath(config, path, value);
    try {
      validateConfig(merged(shippedDefaults, config));
      return { config, problems };
    } catch (error) {
      const culprits = typeof error.key === 'string' ? keysBehind(error, [...chosen.keys()]) : [];
      if (culprits.length === 0) {
        // The shipped defaults alone do not pass: nothing here can fix that; the service will say it.
        problems.push(`the service configuration does not pass its own check: ${error.message}`);
        return { config, problems };
      }
      const unknown = /is not a known setting/.test(error.message);
      for (const key of culprits) {
        problems.push(unknown ? `${key}: this version of the intercom has no setting ${error.key}; ignored` : `${key}: ${error.message}; ignored`);
        chosen.delete(key);
      }
    }
  }
}

/** A valid hostname from a unit name: "Front Door" -> "front-door". */
export function hostnameFor(unitName) {
  const name = unitName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name === '' ? 'intercom' : name;
}

/**
 * wpa_supplicant configuration with the SSID in hex and the pre-computed PSK, so no character of
 * either needs quoting.
 */
export function wpaSupplicantConfig({ ssid, password, country }) {
  const ssidHex = Buffer.from(ssid, 'utf8').toString('hex');
  const lines = ['ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev', 'update_config=0'];
  if (country) lines.push(`country=${country.toUpperCase()}`);
  lines.push('', 'network={', `\tssid=${ssidHex}`, '\tscan_ssid=1');
  if (password) {
    if (password.length < 8 || password.length > 63) throw new Error('wifi_password must be 8 to 63 characters');
    lines.push(`\tpsk=${pbkdf2Sync(password, ssid, 4096, 32, 'sha1').toString('hex')}`);
  } else {
    lines.push('\tkey_mgmt=NONE');
  }
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * The settings text with every `key=` line replaced by a comment saying what happened, so a
 * password does not stay readable on the FAT partition once it was applied (or refused).
 */
export function scrubSetting(text, key, note) {
  return text.replace(new RegExp(`^[ \\t]*${key}[ \\t]*=.*$`, 'gim'), `# ${key} ${note}; write a new line to change it`);
}

/**
 * Sets the panel password people log in to the unit's panel with: `intercom password` reads it
 * from stdin and stores only its scrypt hash in the service's data directory. Then the line is
 * removed from the settings file, applied or not (a refused password is not kept either). Returns
 * the settings text as written; throws with the command's reason when the password was refused.
 */
export function applyPanelPassword({
  password,
  settingsText,
  settingsPath,
  command = INTERCOM_COMMAND,
  // The configuration the service itself reads (intercom.service sets NODE_ENV=production).
  env = { ...process.env, NODE_ENV: 'production' },
  today = new Date(),
}) {
  const date = today.toISOString().slice(0, 10);
  let refusal = null;
  try {
    execFileSync(command[0], [...command.slice(1), 'password'], { input: `${password}\n`, env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    // The command's own reason is its "intercom: ..." line (libraries may print warnings before it).
    const lines = (error.stderr?.toString() ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
    const reason = lines.filter((line) => line.startsWith('intercom: ')).at(-1) ?? lines.at(-1);
    refusal = reason?.replace(/^intercom: /, '') ?? error.message;
  }
  const scrubbed = scrubSetting(settingsText, 'panel_password', refusal ? `was NOT set on ${date} (${refusal})` : `was set on ${date}`);
  writeFileSync(settingsPath, scrubbed);
  if (refusal) throw new Error(refusal);
  return scrubbed;
}

/**
 * The site secret from intercom.txt, applied once. The card's FAT partition can be read on any
 * computer (and a door unit's card sits outdoors), so the secret does not stay there: once it is in
 * the service configuration (/etc/intercom/production.json, readable by root and the service only),
 * its line becomes a comment saying so. At later boots the file has no secret, and the one applied
 * before is kept; a new `site_secret=` line replaces it. A refused secret is not kept in the file
 * either (the comment says why), and the one applied before stays.
 * Returns the configuration to write and the settings text as it is to be written afterwards.
 */
export function applySiteSecret({ values, config, configProblems = [], previousConfig = null, settingsText, today = new Date() }) {
  const date = today.toISOString().slice(0, 10);
  const kept = previousConfig?.site?.secret;
  const result = structuredClone(config);
  if (result.site?.secret === undefined && typeof kept === 'string') result.site = { ...result.site, secret: kept };
  if (!values.has('site_secret')) return { config: result, settingsText };
  const refusal = configProblems.find((problem) => problem.startsWith('site_secret: '))?.slice('site_secret: '.length);
  const note = refusal ? `was NOT applied on ${date} (${refusal})` : `was applied on ${date}`;
  return { config: result, settingsText: scrubSetting(settingsText, 'site_secret', note) };
}

function writeIfChanged(path, content, mode = 0o644) {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.new`, content, { mode });
  chmodSync(`${path}.new`, mode);
  renameSync(`${path}.new`, path);
  return true;
}

// ---- Volume and microphone gain: applied when their value in intercom.txt changes ---------------

/** The service's levels file in its data directory (src/audio/audio-levels.ts reads and writes it). */
export const AUDIO_LEVELS_FILE = 'audio-levels.json';
/** What this step applied from intercom.txt last time, beside it. */
export const APPLIED_LEVELS_FILE = 'audio-levels.intercom-txt.json';

/** The levels intercom.txt asks for ({ volume, micGain }, each only when given) and its problems. */
export function parseLevels(values) {
  const levels = {};
  const problems = [];
  for (const [key, name] of Object.entries(LEVEL_KEYS)) {
    const text = values.get(key);
    if (text === undefined) continue;
    if (/^\d{1,3}$/.test(text) && Number(text) <= 100) levels[name] = Number(text);
    else problems.push(`${key}: "${text}" is not a whole number from 0 to 100; ignored`);
  }
  return { levels, problems };
}

/**
 * The rule that keeps a reboot from undoing the panel: a level from intercom.txt is applied only when
 * it differs from the one applied from intercom.txt last time (`lastApplied`); the same value again is
 * left alone, whatever the panel set since. A key removed from the file is forgotten, so writing it
 * again later applies it. Returns what to apply now and what to remember for the next boot.
 */
export function levelsToApply(levels, lastApplied) {
  const apply = {};
  const remember = {};
  for (const name of Object.values(LEVEL_KEYS)) {
    if (levels[name] === undefined) continue;
    remember[name] = levels[name];
    if (lastApplied?.[name] !== levels[name]) apply[name] = levels[name];
  }
  return { apply, remember };
}

function readLevelsJson(path) {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8'));
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}

const isLevel = (value) => Number.isInteger(value) && value >= 0 && value <= 100;

/** Writes `content` so a power cut leaves the old file or the new one, owned like the data directory. */
function writeStateFile(path, content, owner) {
  const temporary = `${path}.new`;
  const fd = openSync(temporary, 'w', 0o640);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (owner && process.getuid?.() === 0) chownSync(temporary, owner.uid, owner.gid);
  renameSync(temporary, path);
  const directory = openSync(dirname(path), 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
}

/**
 * Applies `volume=` and `mic_gain=` from intercom.txt to the service's levels in `dataDir` by the
 * rule of levelsToApply; `defaults` (audio.volume and audio.micGain) fill in a level the service has
 * not stored yet. Runs before the service starts, which reads the levels file at start. Returns what
 * was applied and any problems.
 */
export function applyAudioLevels({ values, dataDir, defaults, now = new Date() }) {
  const { levels, problems } = parseLevels(values);
  const appliedPath = join(dataDir, APPLIED_LEVELS_FILE);
  const statePath = join(dataDir, AUDIO_LEVELS_FILE);
  const { apply, remember } = levelsToApply(levels, readLevelsJson(appliedPath));
  if (Object.keys(apply).length === 0 && JSON.stringify(remember) === JSON.stringify(readLevelsJson(appliedPath) ?? {})) return { applied: apply, problems };
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  const owner = statSync(dataDir);
  if (Object.keys(apply).length > 0) {
    const state = readLevelsJson(statePath);
    const current = {
      volume: isLevel(state?.volume) ? state.volume : defaults.volume,
      micGain: isLevel(state?.micGain) ? state.micGain : defaults.micGain,
    };
    const next = { version: 1, ...current, ...apply, changedAt: now.toISOString(), changedBy: 'intercom.txt' };
    writeStateFile(statePath, `${JSON.stringify(next, null, 2)}\n`, owner);
  }
  writeStateFile(appliedPath, `${JSON.stringify(remember, null, 2)}\n`, owner);
  return { applied: apply, problems };
}

/**
 * The service's data directory and audio defaults as it will see them: shipped defaults, then the
 * files in /etc/intercom in node-config's order.
 */
export function effectiveLevelsConfig(shippedDefaults, unitConfigs) {
  const dataDir = [shippedDefaults, ...unitConfigs].map((config) => config?.dataDir).filter((value) => typeof value === 'string').at(-1);
  const audio = Object.assign({}, shippedDefaults?.audio, ...unitConfigs.map((config) => config?.audio ?? {}));
  return { dataDir, defaults: { volume: isLevel(audio.volume) ? audio.volume : 80, micGain: isLevel(audio.micGain) ? audio.micGain : 50 } };
}

// ---- GPIO pins at boot: the firmware's config.txt `gpio=` lines -----------------------------------

/** The service's shipped defaults, and the directory of the unit's own configuration files. */
export const SHIPPED_CONFIG_PATH = '/usr/lib/intercom/config/default.json';
/** The service's own configuration check (validateConfig), which the settings pass through. */
export const SHIPPED_VALIDATOR_PATH = '/usr/lib/intercom/dist/config/validate.js';
export const UNIT_CONFIG_DIR = '/etc/intercom';
/**
 * raspi-firmware's kernel hook writes config.txt afresh on every kernel or firmware upgrade and
 * appends this file to it: what is kept here survives upgrades.
 */
export const FIRMWARE_CUSTOM_PATH = '/etc/default/raspi-firmware-custom';
export const GPIO_BLOCK_BEGIN = '# BEGIN intercom GPIO: written at every boot from the intercom configuration; edits between these lines are replaced';
export const GPIO_BLOCK_END = '# END intercom GPIO';
/** The pins on the Raspberry Pi's 40-pin header; the others drive the SD card, Wi-Fi and such. */
const HEADER_PINS = { first: 0, last: 27 };

/**
 * The unit's `gpio` settings as the service will see them: shipped defaults, then the files in
 * /etc/intercom in node-config's order (NODE_ENV=production). The values are plain, so a shallow
 * merge of the gpio sections is the deep merge node-config does.
 */
export function effectiveGpioConfig(shippedDefaults, unitConfigs) {
  return Object.assign({}, shippedDefaults?.gpio, ...unitConfigs.map((config) => config?.gpio ?? {}));
}

/**
 * The config.txt lines that set the front panel's pins at power-on, before Linux runs: sysfs GPIO
 * (what the service uses) cannot set pulls, and from GPIO9 up the Pi pulls pins down at reset, so a
 * button to ground there would never read released. Buttons to ground (activeLow) get a pull-up,
 * buttons to 3.3 V a pull-down; the LED and the relay are outputs at their "off" level from
 * power-on, so the door never opens while the unit boots.
 * Syntax: the Raspberry Pi documentation, "GPIO control in config.txt".
 */
export function gpioBootLines(gpio) {
  const problems = [];
  if (!gpio || gpio.enabled === false) return { lines: ['# GPIO is off (gpio.enabled is false): no pin is set'], problems };
  if (gpio.chipLabel) return { lines: [`# The pins are on GPIO chip "${gpio.chipLabel}" (gpio.chipLabel), not the Raspberry Pi header: no pin is set`], problems };
  const onHeader = (key) => {
    const pin = gpio[key];
    if (pin === undefined || pin === null) return false;
    if (Number.isInteger(pin) && pin >= HEADER_PINS.first && pin <= HEADER_PINS.last) return true;
    problems.push(`gpio.${key}: BCM ${pin} is not on the 40-pin header (GPIO${HEADER_PINS.first} to GPIO${HEADER_PINS.last}); config.txt does not set it`);
    return false;
  };
  const buttons = ['callButton', 'answerButton', 'openButton'].filter(onHeader).map((key) => gpio[key]);
  const activeLow = gpio.activeLow !== false;
  // [all]: a filter section such as [pi4] left open above must not hide these lines on other models.
  const lines = ['[all]'];
  if (buttons.length > 0) {
    lines.push(
      activeLow ? '# Buttons to ground (gpio.activeLow true): inputs with the pull-up' : '# Buttons to 3.3 V (gpio.activeLow false): inputs with the pull-down',
      `gpio=${[...new Set(buttons)].join(',')}=ip,${activeLow ? 'pu' : 'pd'}`,
    );
  }
  if (onHeader('ringLed')) lines.push('# Ring LED: an output, off', `gpio=${gpio.ringLed}=op,dl`);
  if (onHeader('doorRelay')) {
    const relayActiveLow = gpio.doorRelayActiveLow === true;
    lines.push(`# Door relay: an output at rest (${relayActiveLow ? 'high: the module switches on low' : 'low'})`, `gpio=${gpio.doorRelay}=op,${relayActiveLow ? 'dh' : 'dl'}`);
  }
  return { lines, problems };
}

/**
 * `text` with the managed GPIO block replaced by one holding `lines`: where the first block was,
 * or at the end. Every other block is dropped, so running it again never adds a second one. A
 * BEGIN line without its END (cut by hand) ends at the next empty line.
 */
export function withGpioBlock(text, lines) {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  const bare = all.map((line) => line.replace(/\r$/, ''));
  const kept = [];
  let insertAt = -1;
  for (let index = 0; index < all.length; index++) {
    if (bare[index] !== GPIO_BLOCK_BEGIN) {
      kept.push(all[index]);
      continue;
    }
    if (insertAt < 0) insertAt = kept.length;
    let end = index + 1;
    while (end < all.length && bare[end] !== GPIO_BLOCK_END && bare[end] !== GPIO_BLOCK_BEGIN) end++;
    if (bare[end] !== GPIO_BLOCK_END) {
      end = index + 1;
      while (end < all.length && bare[end].trim() !== '' && bare[end] !== GPIO_BLOCK_BEGIN) end++;
      end--;
    }
    index = end;
  }
  if (insertAt < 0) {
    while (kept.length > 0 && kept.at(-1).trim() === '') kept.pop();
    if (kept.length > 0) kept.push('');
    insertAt = kept.length;
  }
  kept.splice(insertAt, 0, GPIO_BLOCK_BEGIN, ...lines, GPIO_BLOCK_END);
  return `${kept.join('\n')}\n`;
}

/**
 * Replaces a file on the boot partition (FAT: no owners or modes) so that a power cut leaves the
 * old file or the new one, never half of one: the firmware cannot boot from a torn config.txt.
 */
function replaceBootFile(path, content) {
  const temporary = `${path}.new`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

function readJsonIfThere(path, problems) {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    problems.push(`${path} is not valid JSON (${error.message}); its gpio settings are not in config.txt`);
    return null;
  }
}

/**
 * Puts the `gpio=` lines for the configured pins into raspi-firmware-custom, which the kernel hook
 * appends to config.txt on every upgrade, and into config.txt itself, where the firmware reads them
 * at the next power-on. Both hold the same marked block, replaced in place each time. Returns the
 * lines, whether config.txt changed (the new pins take effect at the next boot) and any problems.
 * Without `configTxtPath`, only the custom file is written.
 */
export function applyGpioBootConfig({
  shippedConfigPath = SHIPPED_CONFIG_PATH,
  unitConfigDir = UNIT_CONFIG_DIR,
  firmwareCustomPath = FIRMWARE_CUSTOM_PATH,
  configTxtPath,
}) {
  const problems = [];
  const shipped = JSON.parse(readFileSync(shippedConfigPath, 'utf8'));
  const unitConfigs = ['default.json', 'production.json', 'local.json', 'local-production.json'].map((name) => readJsonIfThere(join(unitConfigDir, name), problems));
  const { lines, problems: pinProblems } = gpioBootLines(effectiveGpioConfig(shipped, unitConfigs));
  problems.push(...pinProblems);

  const custom = existsSync(firmwareCustomPath) ? readFileSync(firmwareCustomPath, 'utf8') : '';
  writeIfChanged(firmwareCustomPath, withGpioBlock(custom, lines));

  let configTxtChanged = false;
  if (configTxtPath === undefined) {
    // The image build: the kernel hook writes config.txt from the custom file next.
  } else if (existsSync(configTxtPath)) {
    const current = readFileSync(configTxtPath, 'utf8');
    const wanted = withGpioBlock(current, lines);
    if (wanted !== current) {
      replaceBootFile(configTxtPath, wanted);
      configTxtChanged = true;
    }
  } else {
    problems.push(`${configTxtPath} does not exist; the GPIO pins are set once the kernel hook writes it`);
  }
  return { lines: lines.filter((line) => line.startsWith('gpio=')), configTxtChanged, problems };
}

function run(command, args, input) {
  return execFileSync(command, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'inherit'] }).toString();
}

/** Runs one part of the setup; a failing part is reported and the others still run. */
function part(name, problems, action) {
  try {
    action();
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
  }
}

/** `validateConfig` is the service's own (SHIPPED_VALIDATOR_PATH), or an Error saying why it is missing. */
function applySettings(settingsPath, validateConfig) {
  const problems = [];
  // First, so that a unit with a broken settings file can still be reached once it is fixed.
  part('ssh host keys', problems, () => {
    if (!existsSync('/etc/ssh/ssh_host_ed25519_key')) run('ssh-keygen', ['-A']);
  });

  let text = '';
  part('settings file', problems, () => {
    if (existsSync(settingsPath)) text = readFileSync(settingsPath, 'utf8');
  });
  const { values, problems: parseProblems } = parseSettings(text);
  problems.push(...parseProblems);

  // Service settings: /etc/intercom/production.json; an admin's local.json there still wins.
  part('service settings', problems, () => {
    if (validateConfig instanceof Error) throw validateConfig;
    const shipped = JSON.parse(readFileSync(SHIPPED_CONFIG_PATH, 'utf8'));
    const { config: asked, problems: configProblems } = settingsToConfig(values, shipped, validateConfig);
    problems.push(...configProblems);
    const previousConfig = readJsonIfThere('/etc/intercom/production.json', problems);
    const { config, settingsText } = applySiteSecret({ values, config: asked, configProblems, previousConfig, settingsText: text });
    // It may hold the site secret: readable by root and the service only.
    writeIfChanged('/etc/intercom/production.json', `${JSON.stringify(config, null, 2)}\n`, 0o640);
    chownSync('/etc/intercom/production.json', 0, Number(run('id', ['-g', 'intercom']).trim()));
    // Only once the secret is safe in the configuration does it leave the card.
    if (settingsText !== text) {
      text = settingsText;
      writeFileSync(settingsPath, text);
    }
  });

  // After the service settings, which say where the service keeps its data.
  part('volume and mic_gain', problems, () => {
    const shipped = JSON.parse(readFileSync(SHIPPED_CONFIG_PATH, 'utf8'));
    // A broken file there is reported once, by the GPIO part below.
    const unitConfigs = ['default.json', 'production.json', 'local.json', 'local-production.json'].map((name) => readJsonIfThere(join(UNIT_CONFIG_DIR, name), []));
    const { dataDir, defaults } = effectiveLevelsConfig(shipped, unitConfigs);
    const result = applyAudioLevels({ values, dataDir, defaults });
    problems.push(...result.problems);
    if (Object.keys(result.applied).length > 0) console.error(`intercom.txt: audio levels applied: ${JSON.stringify(result.applied)}`);
  });

  // After the service settings, which it reads: the pins' pulls and levels from power-on.
  let gpioBoot = { lines: [], configTxtChanged: false };
  part('GPIO pins in config.txt', problems, () => {
    const result = applyGpioBootConfig({ configTxtPath: join(dirname(settingsPath), 'config.txt') });
    problems.push(...result.problems.map((problem) => `GPIO pins in config.txt: ${problem}`));
    gpioBoot = { lines: result.lines, configTxtChanged: result.configTxtChanged };
  });

  const hostname = hostnameFor(values.get('unit_name') ?? 'intercom');
  part('hostname', problems, () => {
    writeIfChanged('/etc/hostname', `${hostname}\n`);
    const hosts = existsSync('/etc/hosts') ? readFileSync('/etc/hosts', 'utf8').split('\n') : ['127.0.0.1\tlocalhost', '::1\t\tlocalhost ip6-localhost ip6-loopback'];
    const kept = hosts.filter((line) => !line.startsWith('127.0.1.1'));
    writeIfChanged('/etc/hosts', `${kept.join('\n').trimEnd()}\n127.0.1.1\t${hostname}\n`);
    writeFileSync('/proc/sys/kernel/hostname', hostname);
  });

  const ssid = values.get('wifi_ssid');
  part('wifi', problems, () => {
    const wpaPath = '/etc/wpa_supplicant/wpa_supplicant-wlan0.conf';
    if (ssid !== undefined) {
      writeIfChanged(wpaPath, wpaSupplicantConfig({ ssid, password: values.get('wifi_password'), country: values.get('wifi_country') }), 0o600);
      run('systemctl', ['enable', 'wpa_supplicant@wlan0.service']);
    } else if (existsSync(wpaPath)) {
      rmSync(wpaPath);
      run('systemctl', ['disable', 'wpa_supplicant@wlan0.service']);
    }
  });

  const sshKey = values.get('ssh_key');
  part('ssh_key', problems, () => {
    const authorizedKeys = '/home/admin/.ssh/authorized_keys';
    mkdirSync(dirname(authorizedKeys), { recursive: true, mode: 0o700 });
    writeIfChanged(authorizedKeys, sshKey === undefined ? '' : `${sshKey}\n`, 0o600);
    const admin = Number(run('id', ['-u', 'admin']).trim());
    chownSync(dirname(authorizedKeys), admin, admin);
    chownSync(authorizedKeys, admin, admin);
  });
  part('ssh_password', problems, () => {
    const sshPassword = values.get('ssh_password');
    if (sshPassword === undefined) return;
    run('chpasswd', [], `admin:${sshPassword}\n`);
    // The password is now hashed in /etc/shadow; it does not stay readable on the FAT partition.
    text = scrubSetting(text, 'ssh_password', `was set on ${new Date().toISOString().slice(0, 10)}`);
    writeFileSync(settingsPath, text);
  });
  // After the service settings: `intercom password` finds the data directory through them.
  part('panel_password', problems, () => {
    const panelPassword = values.get('panel_password');
    if (panelPassword === undefined) return;
    try {
      text = applyPanelPassword({ password: panelPassword, settingsText: text, settingsPath });
    } finally {
      // Applied or refused, the password is gone from the file; keep the text in step with it.
      if (existsSync(settingsPath)) text = readFileSync(settingsPath, 'utf8');
    }
  });
  let passwordSet = false;
  part('ssh password login', problems, () => {
    passwordSet = !/^admin:[!*]/m.test(readFileSync('/etc/shadow', 'utf8'));
    writeIfChanged('/etc/ssh/sshd_config.d/60-intercom-password.conf', `PasswordAuthentication ${passwordSet ? 'yes' : 'no'}\n`);
  });

  const sshLogin = [sshKey === undefined ? null : 'key', passwordSet ? 'password' : null].filter(Boolean).join('+') || 'closed';
  const status = { settingsFile: settingsPath, hostname, sshLogin, wifi: ssid !== undefined, gpioBoot, problems };
  writeIfChanged('/run/intercom-setup/status.json', `${JSON.stringify(status, null, 2)}\n`);
  for (const problem of problems) console.error(`intercom.txt: ${problem}`);
  if (sshLogin === 'closed') {
    console.error(`intercom.txt: no ssh_key or ssh_password: ssh login is closed (add one to ${settingsPath} and reboot)`);
  }
  if (gpioBoot.configTxtChanged) {
    console.error(`intercom.txt: the GPIO pins in config.txt changed (${gpioBoot.lines.join(' ') || 'none set'}); the firmware sets them from the next reboot`);
  }
  console.error(`intercom.txt applied: hostname ${hostname}, ssh login ${sshLogin}, wifi ${ssid === undefined ? 'off' : 'on'}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--apply') {
  // Loaded here, not at the top: the tests import this module without a unit's files around it,
  // and a broken package must not stop the other parts (ssh above all) from being set up.
  const validateConfig = await import(SHIPPED_VALIDATOR_PATH).then(
    (module) => module.validateConfig,
    (error) => new Error(`cannot load the service's configuration check ${SHIPPED_VALIDATOR_PATH}: ${error.message}`),
  );
  applySettings(process.argv[3] ?? '/boot/firmware/intercom.txt', validateConfig);
}
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--gpio-boot-config') {
  // The image build, in its chroot: the shipped defaults' pins, before the kernel hook writes config.txt.
  const configTxtPath = '/boot/firmware/config.txt';
  const { lines, problems } = applyGpioBootConfig({ configTxtPath: existsSync(configTxtPath) ? configTxtPath : undefined });
  for (const problem of problems) console.error(`GPIO pins in config.txt: ${problem}`);
  console.error(`GPIO pins in config.txt: ${lines.join(' ') || 'none'}`);
  if (problems.length > 0) process.exit(1);
}
