import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error: a plain .mjs build script without type declarations
import { SYSTEM_PORTAUDIO_MARKER, addonLoads, linkSystemPortAudio } from '../../scripts/build-naudiodon.mjs';

const naudiodonDir = path.resolve('node_modules/naudiodon');
const gypText = readFileSync(path.join(naudiodonDir, 'binding.gyp'), 'utf8');
const upstreamGyp = gypText.includes(SYSTEM_PORTAUDIO_MARKER) ? undefined : gypText;

(upstreamGyp ? test : test.skip)('the binding.gyp rewrite links the system PortAudio on Linux only, and is idempotent', (t) => {
  const rewritten: string = linkSystemPortAudio(upstreamGyp!);
  t.true(rewritten.includes('pkg-config --libs portaudio-2.0'));
  t.false(rewritten.slice(rewritten.indexOf('OS=="linux"')).includes('libportaudio.so.2'));
  t.true(rewritten.includes('portaudio_x64.lib'), 'the Windows and macOS parts are untouched');
  t.true(rewritten.includes('libportaudio.dylib'));
  t.is(linkSystemPortAudio(rewritten), rewritten);
});

test('a binding.gyp that no longer looks as expected is refused', (t) => {
  t.throws(() => linkSystemPortAudio("{ 'targets': [] }"), { message: /expected exactly one/ });
  t.throws(() => linkSystemPortAudio(`{ 'conditions': [ ['OS=="linux"', { "libraries": ["-lfoo"] }] ] }`), { message: /does not link the bundled/ });
});

const hasSystemPortAudio = spawnSync('pkg-config', ['--exists', 'portaudio-2.0']).status === 0;

(hasSystemPortAudio ? test : test.skip)('with the system PortAudio forced, a copy of naudiodon is rebuilt and loads', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-naudiodon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['naudiodon', 'segfault-handler', 'bindings', 'file-uri-to-path']) {
    cpSync(path.resolve('node_modules', name), path.join(dir, 'node_modules', name), { recursive: true });
  }
  const copy = path.join(dir, 'node_modules/naudiodon');
  const result = spawnSync(process.execPath, ['scripts/build-naudiodon.mjs', '--system-portaudio', '--package-dir', copy], { encoding: 'utf8', timeout: 120_000 });
  t.is(result.status, 0, result.stderr.slice(-2_000));
  t.is(result.stdout, '');
  const addon = path.join(copy, 'build/Release/naudiodon.node');
  t.deepEqual(addonLoads(addon), { ok: true });
  const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' }).stdout;
  t.regex(ldd, /libportaudio\.so\.2 => \/(usr\/)?lib\/[^ ]+/);
  t.notRegex(ldd, /naudiodon\/build\/Release\/libportaudio/);
  const again = spawnSync(process.execPath, ['scripts/build-naudiodon.mjs', '--system-portaudio', '--package-dir', copy], { encoding: 'utf8' });
  t.regex(again.stderr, /nothing to do/);
});
