#!/usr/bin/env node
// Builds the native parts after `npm ci` (also after `npm ci --ignore-scripts`, which the
// install script uses so that one path works with npm 10 and 11 and on arm64):
//  - our Opus addon (src/codec/opus-native), linked against the system libopus, which is the
//    only way to get in-band FEC decoding (no npm wrapper exposes it);
//  - naudiodon, relinked against the system PortAudio where its bundled x86-64 library cannot
//    work (arm64), see scripts/build-naudiodon.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function nodeGyp() {
  // npm puts its bundled node-gyp on PATH for lifecycle scripts; from a plain shell, find it beside npm.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ].filter(Boolean);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('node-gyp not found: install npm (which bundles it) or the node-gyp package');
  return found;
}

// Build against the headers of the Node that runs us (Debian's nodejs puts them in
// /usr/include/node): node-gyp would otherwise try to download them, and units have no internet.
function nodedirArgs() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

export function runNodeGyp(directory, args = ['rebuild']) {
  execFileSync(process.execPath, [nodeGyp(), ...args, ...nodedirArgs(), `--directory=${directory}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    cwd: root,
  });
}

const opusDir = path.join(root, 'src/codec/opus-native');
if (!existsSync(path.join(opusDir, 'build/Release/opus_addon.node')) || process.argv.includes('--force')) {
  console.error('building the Opus addon (system libopus)');
  runNodeGyp(opusDir);
}

// Small addons of dependencies that `npm ci --ignore-scripts` leaves unbuilt: onoff's epoll
// (GPIO edge interrupts) and unix-dgram (sd_notify: without it systemd never hears READY=1).
for (const name of ['epoll', 'unix-dgram']) {
  const directory = path.join(root, 'node_modules', name);
  if (!existsSync(directory)) continue;
  const release = path.join(directory, 'build/Release');
  const built = existsSync(release) && readdirSync(release).some((file) => file.endsWith('.node'));
  if (!built || process.argv.includes('--force')) {
    console.error(`building ${name}`);
    runNodeGyp(directory);
  }
}

const naudiodonScript = path.join(root, 'scripts/build-naudiodon.mjs');
if (existsSync(naudiodonScript)) {
  execFileSync(process.execPath, [naudiodonScript], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
}
