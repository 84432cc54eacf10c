#!/usr/bin/env node
// Builds the native parts after `npm ci` (also after `npm ci --ignore-scripts`, which the
// install script uses so that one path works with npm 10 and 11 and on arm64):
//  - our Opus addon (src/codec/opus-native), linked against the system libopus, which is the
//    only way to get in-band FEC decoding (no npm wrapper exposes it);
//  - our speexdsp addon (src/audio-processing/speex-native): echo cancellation, noise suppression
//    and gain control of the capture path, linked against the system libspeexdsp (no npm binding);
//  - our ALSA engine (src/audio/alsa-engine), linked against the system alsa-lib: the unit's
//    duplex audio engine. Without it (no libasound2-dev) the unit falls back to naudiodon, so a
//    failed build is reported, not fatal;
//  - naudiodon, relinked against the system PortAudio where its bundled x86-64 library cannot
//    work (arm64), see scripts/build-naudiodon.mjs.
import { execFileSync } from 'node:child_process';
import { nodeGypRebuild } from './node-gyp.mjs';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const opusDir = path.join(root, 'src/codec/opus-native');
if (!existsSync(path.join(opusDir, 'build/Release/opus_addon.node')) || process.argv.includes('--force')) {
  console.error('building the Opus addon (system libopus)');
  nodeGypRebuild(opusDir);
}

const speexDir = path.join(root, 'src/audio-processing/speex-native');
if (existsSync(speexDir) && (!existsSync(path.join(speexDir, 'build/Release/speex_addon.node')) || process.argv.includes('--force'))) {
  console.error('building the speexdsp addon (system libspeexdsp)');
  nodeGypRebuild(speexDir);
}

const alsaDir = path.join(root, 'src/audio/alsa-engine');
if (existsSync(path.join(alsaDir, 'binding.gyp')) && (!existsSync(path.join(alsaDir, 'build/Release/alsa_engine.node')) || process.argv.includes('--force'))) {
  console.error('building the ALSA engine (system alsa-lib)');
  try {
    nodeGypRebuild(alsaDir);
  } catch (error) {
    console.error(`WARNING: the ALSA engine did not build (${error.message}); audio falls back to naudiodon. Install libasound2-dev and run "node scripts/build-native.mjs".`);
  }
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
    nodeGypRebuild(directory);
  }
}

const naudiodonScript = path.join(root, 'scripts/build-naudiodon.mjs');
if (existsSync(naudiodonScript)) {
  execFileSync(process.execPath, [naudiodonScript], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
}
