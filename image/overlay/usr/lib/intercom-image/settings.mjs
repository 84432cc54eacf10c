#!/usr/bin/env node
// Applies intercom.txt, the settings file on the image's boot partition that anyone can edit from
// a PC after flashing (format: docs/IMAGE.md). Runs at every boot before the network, ssh and the
// intercom service start (intercom-setup.service):
//   node settings.mjs --apply /boot/firmware/intercom.txt
// The parsing and mapping functions are exported for the tests (test/appliance/settings.test.ts).
import { execFileSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** intercom.txt keys that become service configuration: config paths (dotted) and the value's kind. */
export const CONFIG_KEYS = {
  unit_name: { paths: ['unit.name'], kind: 'text' },
  site_secret: { paths: ['site.secret'], kind: 'secret' },
  sound_device: { paths: ['audio.captureDevice', 'audio.playbackDevice'], kind: 'text' },
  capture_device: { paths: ['audio.captureDevice'], kind: 'text' },
  playback_device: { paths: ['audio.playbackDevice'], kind: 'text' },
  gpio_enabled: { paths: ['gpio.enabled'], kind: 'yes-no' },
  gpio_call: { paths: ['gpio.callButton'], kind: 'pin' },
  gpio_answer: { paths: ['gpio.answerButton'], kind: 'pin' },
  gpio_led: { paths: ['gpio.ringLed'], kind: 'pin' },
  gpio_door: { paths: ['gpio.doorRelay'], kind: 'pin-or-none' },
  gpio_active_low: { paths: ['gpio.activeLow'], kind: 'yes-no' },
  call_target: { paths: ['gpio.callTarget'], kind: 'text' },
};
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
    if (!(key in CONFIG_KEYS) && !SYSTEM_KEYS.includes(key)) {
      problems.push(`line ${index + 1}: unknown setting "${key}"`);
      return;
    }
    if (value !== '') values.set(key, value);
  });
  return { values, problems };
}

function hasPath(object, path) {
  let node = object;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

function setPath(object, path, value) {
  const parts = path.split('.');
  let node = object;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts.at(-1)] = value;
}

/** A setting's text as the value its kind needs; throws with a message for the settings file. */
function typed(text, kind) {
  switch (kind) {
    case 'pin':
    case 'pin-or-none': {
      if (kind === 'pin-or-none' && /^(none|no|off)$/i.test(text)) return null;
      const pin = Number(text);
      if (!Number.isInteger(pin) || pin < 0 || pin > 57) throw new Error(`"${text}" is not a BCM pin number (0 to 57)`);
      return pin;
    }
    case 'yes-no':
      if (/^(yes|true|on|1)$/i.test(text)) return true;
      if (/^(no|false|off|0)$/i.test(text)) return false;
      throw new Error(`"${text}" is not yes or no`);
    case 'secret':
      if (text.length < 16 || text.length > 256 || /\s/.test(text)) throw new Error('must be 16 to 256 characters without spaces');
      return text;
    default:
      return text;
  }
}

/**
 * The service configuration the settings ask for. Only keys this version of the service knows (those
 * in its shipped defaults) are written, so a newer settings file never stops an older service.
 */
export function settingsToConfig(values, shippedDefaults) {
  const config = {};
  const problems = [];
  for (const [key, { paths, kind }] of Object.entries(CONFIG_KEYS)) {
    const text = values.get(key);
    if (text === undefined) continue;
    let value;
    try {
      value = typed(text, kind);
    } catch (error) {
      problems.push(`${key}: ${error.message}`);
      continue;
    }
    for (const path of paths) {
      if (hasPath(shippedDefaults, path)) setPath(config, path, value);
      else problems.push(`${key}: this version of the intercom has no setting ${path}; ignored`);
    }
  }
  return { config, problems };
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

function writeIfChanged(path, content, mode = 0o644) {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.new`, content, { mode });
  chmodSync(`${path}.new`, mode);
  renameSync(`${path}.new`, path);
  return true;
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

function applySettings(settingsPath) {
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
    const shipped = JSON.parse(readFileSync('/usr/lib/intercom/config/default.json', 'utf8'));
    const { config, problems: configProblems } = settingsToConfig(values, shipped);
    problems.push(...configProblems);
    // It may hold the site secret: readable by root and the service only.
    writeIfChanged('/etc/intercom/production.json', `${JSON.stringify(config, null, 2)}\n`, 0o640);
    chownSync('/etc/intercom/production.json', 0, Number(run('id', ['-g', 'intercom']).trim()));
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
  const status = { settingsFile: settingsPath, hostname, sshLogin, wifi: ssid !== undefined, problems };
  writeIfChanged('/run/intercom-setup/status.json', `${JSON.stringify(status, null, 2)}\n`);
  for (const problem of problems) console.error(`intercom.txt: ${problem}`);
  if (sshLogin === 'closed') {
    console.error(`intercom.txt: no ssh_key or ssh_password: ssh login is closed (add one to ${settingsPath} and reboot)`);
  }
  console.error(`intercom.txt applied: hostname ${hostname}, ssh login ${sshLogin}, wifi ${ssid === undefined ? 'off' : 'on'}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--apply') {
  applySettings(process.argv[3] ?? '/boot/firmware/intercom.txt');
}
