#!/usr/bin/env node
// Makes sure naudiodon's native addon is built and loads, after `npm ci` with or without
// --ignore-scripts.
//
// naudiodon 2.3.6's binding.gyp links the PortAudio library it bundles, which exists for x86-64
// and 32-bit arm only; on arm64 (64-bit Raspberry Pi OS) linking fails ("file in wrong format",
// upstream issue #68). There, or when the bundled build does not load, or when asked
// (--system-portaudio or INTERCOM_NAUDIODON_SYSTEM_PORTAUDIO=1), this script rewrites the Linux
// part of binding.gyp to link the system PortAudio found by pkg-config (Debian: libportaudio2,
// portaudio19-dev, pkg-config) and rebuilds the addon with node-gyp. It also builds
// segfault-handler, which naudiodon loads, if that is missing.
//
// Usage: node scripts/build-naudiodon.mjs [--system-portaudio] [--package-dir DIR]
import { spawnSync } from 'node:child_process';
import { nodeGypRebuild as runNodeGypRebuild } from './node-gyp.mjs';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SYSTEM_PORTAUDIO_MARKER = 'pi-intercom: linked against the system PortAudio';
/**
 * Only a guard against an addon that hangs while loading: Node itself can take tens of seconds to
 * start under qemu-user (the arm64 package build) on a busy machine, and 15 s failed a build there.
 */
const LOAD_TIMEOUT_MS = 180_000;

const SYSTEM_LINUX_BLOCK = `'OS=="linux"', {
            # ${SYSTEM_PORTAUDIO_MARKER} (scripts/build-naudiodon.mjs)
            "cflags_cc!": [
              "-fno-rtti",
              "-fno-exceptions"
            ],
            "cflags_cc": [
              "-std=c++11",
              "-fexceptions",
              "<!@(pkg-config --cflags portaudio-2.0)"
            ],
            "include_dirs!": [
              "portaudio/include"
            ],
            "libraries": [
              "<!@(pkg-config --libs portaudio-2.0)"
            ]
          }`;

/**
 * Returns the end index (exclusive) of the brace-delimited block opening at `open`, skipping
 * strings and # comments, as in gyp's Python-literal syntax.
 */
function matchingBrace(text, open) {
  let depth = 0;
  for (let index = open; index < text.length; index += 1) {
    const char = text[index];
    if (char === '"' || char === "'") {
      const close = text.indexOf(char, index + 1);
      if (close < 0) break;
      index = close;
    } else if (char === '#') {
      const newline = text.indexOf('\n', index);
      index = newline < 0 ? text.length : newline;
    } else if (char === '{') {
      depth += 1;
    } else if (char === '}') {
      depth -= 1;
      if (depth === 0) return index + 1;
    }
  }
  throw new Error('binding.gyp: unbalanced braces in the OS=="linux" block');
}

/**
 * Replaces binding.gyp's `'OS=="linux"', {...}` condition (bundled libportaudio) by one that
 * links the system PortAudio. Idempotent; throws if the file no longer looks as expected.
 */
export function linkSystemPortAudio(gypText) {
  if (gypText.includes(SYSTEM_PORTAUDIO_MARKER)) return gypText;
  const head = `'OS=="linux"', {`;
  const start = gypText.indexOf(head);
  if (start < 0 || gypText.indexOf(head, start + 1) >= 0) {
    throw new Error(`binding.gyp: expected exactly one ${head} condition; naudiodon changed, review scripts/build-naudiodon.mjs`);
  }
  const end = matchingBrace(gypText, start + head.length - 1);
  const block = gypText.slice(start, end);
  if (!block.includes('libportaudio.so.2') || !block.includes('target_arch=="arm"')) {
    throw new Error('binding.gyp: the linux block does not link the bundled libportaudio.so.2 as expected; review scripts/build-naudiodon.mjs');
  }
  return gypText.slice(0, start) + SYSTEM_LINUX_BLOCK + gypText.slice(end);
}

/** Loads a native addon in a child process (a crash or hang must not take this script down). */
export function addonLoads(addonPath, cwd = os.tmpdir()) {
  if (!existsSync(addonPath)) return { ok: false, reason: 'not built' };
  const result = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', addonPath], {
    cwd,
    timeout: LOAD_TIMEOUT_MS,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (result.status === 0) return { ok: true };
  return { ok: false, reason: result.error?.message ?? (result.stderr.trim().split('\n').find((line) => /Error/.test(line)) || `exit ${result.status ?? result.signal}`) };
}

function nodeGypRebuild(directory) {
  // naudiodon 2.3.6 uses std::string without including <string>; GCC 14 (Debian trixie) refuses it.
  const env = { ...process.env, CXXFLAGS: `${process.env.CXXFLAGS ?? ''} -include string`.trim() };
  runNodeGypRebuild(directory, env);
}

function systemPortAudioAvailable() {
  const result = spawnSync('pkg-config', ['--exists', 'portaudio-2.0']);
  return result.status === 0;
}

function usesSystemPortAudio(naudiodonDir) {
  const gyp = path.join(naudiodonDir, 'binding.gyp');
  return existsSync(gyp) && readFileSync(gyp, 'utf8').includes(SYSTEM_PORTAUDIO_MARKER);
}

function rebuildWithBundledPortAudio(naudiodonDir, addon, reason, log) {
  log(`naudiodon: addon unusable (${reason}); rebuilding with its bundled PortAudio`);
  try {
    nodeGypRebuild(naudiodonDir);
  } catch {
    log('naudiodon: build against the bundled PortAudio failed');
    return false;
  }
  return addonLoads(addon).ok;
}

export function buildNaudiodon({ naudiodonDir, forceSystem, log = (line) => console.error(line) }) {
  if (!existsSync(path.join(naudiodonDir, 'package.json'))) throw new Error(`naudiodon is not installed in ${naudiodonDir}`);
  const addon = path.join(naudiodonDir, 'build/Release/naudiodon.node');
  const wantSystem = forceSystem || (process.platform === 'linux' && process.arch === 'arm64');
  const loaded = addonLoads(addon);
  const systemNow = usesSystemPortAudio(naudiodonDir);

  if (loaded.ok && (systemNow || !wantSystem)) {
    log(`naudiodon: addon loads (${systemNow ? 'system' : 'bundled'} PortAudio), nothing to do`);
  } else if (!wantSystem && !systemNow && rebuildWithBundledPortAudio(naudiodonDir, addon, loaded.reason, log)) {
    log('naudiodon: built and loads (bundled PortAudio)');
  } else {
    if (process.platform !== 'linux') throw new Error(`naudiodon does not load: ${loaded.reason}`);
    if (!systemPortAudioAvailable()) {
      throw new Error('naudiodon needs the system PortAudio here: apt-get install libportaudio2 portaudio19-dev pkg-config');
    }
    const gypPath = path.join(naudiodonDir, 'binding.gyp');
    writeFileSync(gypPath, linkSystemPortAudio(readFileSync(gypPath, 'utf8')));
    log('naudiodon: binding.gyp links the system PortAudio; rebuilding');
    nodeGypRebuild(naudiodonDir);
    const after = addonLoads(addon);
    if (!after.ok) throw new Error(`naudiodon built against the system PortAudio but does not load: ${after.reason}`);
    log('naudiodon: built and loads (system PortAudio)');
  }

  // naudiodon requires segfault-handler at load time; npm may have put it beside or inside naudiodon.
  const segfaultDirs = [path.join(naudiodonDir, 'node_modules/segfault-handler'), path.join(naudiodonDir, '../segfault-handler')];
  const segfaultDir = segfaultDirs.find((dir) => existsSync(path.join(dir, 'package.json')));
  if (!segfaultDir) throw new Error('segfault-handler (a naudiodon dependency) is not installed');
  const segfaultAddon = path.join(segfaultDir, 'build/Release/segfault-handler.node');
  if (!addonLoads(segfaultAddon).ok) {
    log('segfault-handler: building');
    nodeGypRebuild(segfaultDir);
    const after = addonLoads(segfaultAddon);
    if (!after.ok) throw new Error(`segfault-handler does not load: ${after.reason}`);
  }
}

function parseArgs(argv) {
  const options = { naudiodonDir: path.join(root, 'node_modules/naudiodon'), forceSystem: process.env.INTERCOM_NAUDIODON_SYSTEM_PORTAUDIO === '1' };
  for (let index = 0; index < argv.length; index += 1) {
    if (argv[index] === '--system-portaudio') options.forceSystem = true;
    else if (argv[index] === '--package-dir') options.naudiodonDir = path.resolve(argv[++index]);
    else throw new Error(`unknown argument ${argv[index]}`);
  }
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    buildNaudiodon(parseArgs(process.argv.slice(2)));
  } catch (error) {
    console.error(`build-naudiodon: ${error.message}`);
    process.exit(1);
  }
}
