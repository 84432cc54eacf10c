import test from 'ava';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  SITE_SECRET_FILE,
  generateSiteSecret,
  loadSiteSecret,
  readStoredSiteSecret,
  replacedConfigSecretPath,
  siteSecretProblem,
  storeReplacedConfigSecret,
  storeSiteSecret,
} from '../../src/security/site-secret.js';

async function tempDataDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-secret-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Collects log calls by level, as pino would receive them. */
function recordingLogger() {
  const lines: { level: string; object: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (object: Record<string, unknown>, msg: string) => lines.push({ level, object, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } as never };
}

test('first start without a configured secret: a random one is made, stored 0600, and the log says how to share it', async (t) => {
  const dataDir = await tempDataDir(t);
  const { lines, logger } = recordingLogger();
  const first = await loadSiteSecret({ configured: null, dataDir, logger });
  t.is(first.source, 'generated');
  t.is(first.file, path.join(dataDir, SITE_SECRET_FILE));
  t.is(siteSecretProblem(first.secret), null);
  t.true(first.secret.length >= 40);
  t.is(await readFile(first.file!, 'utf8'), `${first.secret}\n`);
  t.is((await stat(first.file!)).mode & 0o777, 0o600);
  t.deepEqual(await readdir(dataDir), [SITE_SECRET_FILE], 'no temp file left behind');
  const warning = lines.find((line) => line.level === 'warn');
  t.truthy(warning);
  t.regex(warning!.msg, /only talk to units with the same secret/);
  t.regex(warning!.msg, /site\.secret/);
  t.true(warning!.msg.includes(first.file!));
  t.false(JSON.stringify(lines).includes(first.secret), 'the secret itself is never logged');

  // The next start uses the stored one.
  const second = await loadSiteSecret({ configured: null, dataDir });
  t.deepEqual(second, { secret: first.secret, source: 'file', file: first.file });
});

test('two units generate different secrets', async (t) => {
  const [a, b] = await Promise.all([tempDataDir(t), tempDataDir(t)]);
  const [secretA, secretB] = await Promise.all([loadSiteSecret({ configured: null, dataDir: a }), loadSiteSecret({ configured: null, dataDir: b })]);
  t.not(secretA.secret, secretB.secret);
  t.not(generateSiteSecret(), generateSiteSecret());
});

test('site.secret in the config wins over the stored file, and nothing is written', async (t) => {
  const dataDir = await tempDataDir(t);
  await storeSiteSecret(dataDir, 'the-stored-secret-0123456789');
  const loaded = await loadSiteSecret({ configured: 'the-configured-secret-01234', dataDir });
  t.deepEqual(loaded, { secret: 'the-configured-secret-01234', source: 'config', file: null });
  t.is(await readStoredSiteSecret(dataDir), 'the-stored-secret-0123456789');
});

test('a secret written by hand (with a trailing newline) is read without it', async (t) => {
  const dataDir = await tempDataDir(t);
  await writeFile(path.join(dataDir, SITE_SECRET_FILE), 'copied-from-the-first-unit-123\r\n');
  t.deepEqual(await loadSiteSecret({ configured: null, dataDir }), {
    secret: 'copied-from-the-first-unit-123',
    source: 'file',
    file: path.join(dataDir, SITE_SECRET_FILE),
  });
});

test('an unusable stored or configured secret stops the start, naming the file or key, and is left alone', async (t) => {
  const dataDir = await tempDataDir(t);
  const file = path.join(dataDir, SITE_SECRET_FILE);
  await writeFile(file, 'too-short\n');
  const error = await t.throwsAsync(loadSiteSecret({ configured: null, dataDir }));
  t.true(error!.message.includes(file));
  t.regex(error!.message, /at least 16/);
  t.is(await readFile(file, 'utf8'), 'too-short\n', 'the file is not replaced');
  const configured = await t.throwsAsync(loadSiteSecret({ configured: 'short', dataDir }));
  t.regex(configured!.message, /^site\.secret /);
});

test('storeSiteSecret replaces the secret atomically and refuses bad ones', async (t) => {
  const dataDir = await tempDataDir(t);
  const file = await storeSiteSecret(dataDir, 'first-secret-of-this-site');
  await storeSiteSecret(dataDir, 'second-secret-of-this-site');
  t.is(await readStoredSiteSecret(dataDir), 'second-secret-of-this-site');
  t.is((await stat(file)).mode & 0o777, 0o600);
  for (const bad of ['', 'short', 'has a space in it, long enough', 'x'.repeat(257)]) {
    await t.throwsAsync(storeSiteSecret(dataDir, bad), undefined, JSON.stringify(bad));
  }
  t.is(await readStoredSiteSecret(dataDir), 'second-secret-of-this-site');
  t.deepEqual(await readdir(dataDir), [SITE_SECRET_FILE]);
});

test('a data dir that does not exist yet is created', async (t) => {
  const parent = await tempDataDir(t);
  const dataDir = path.join(parent, 'var', 'lib', 'intercom');
  const loaded = await loadSiteSecret({ configured: null, dataDir });
  t.is(loaded.source, 'generated');
  t.is(await readStoredSiteSecret(dataDir), loaded.secret);
});

test('a secret that replaced site.secret on the unit (joined, left, rotated) wins until site.secret itself changes', async (t) => {
  const dataDir = await tempDataDir(t);
  const configured = generateSiteSecret();
  const rotated = generateSiteSecret();
  const file = await storeReplacedConfigSecret(dataDir, configured, rotated);
  t.is(file, replacedConfigSecretPath(dataDir));
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.false((await readFile(file, 'utf8')).includes(configured), 'only a digest of the configured secret is kept');
  t.deepEqual(await loadSiteSecret({ configured, dataDir }), { secret: rotated, source: 'config-replaced', file });
  // The card is provisioned again with a new site.secret: that one is used.
  const reprovisioned = generateSiteSecret();
  t.deepEqual(await loadSiteSecret({ configured: reprovisioned, dataDir }), { secret: reprovisioned, source: 'config', file: null });
  // A broken file names itself.
  await writeFile(file, 'garbage');
  await t.throwsAsync(loadSiteSecret({ configured, dataDir }), { message: /site-secret-replaced is not JSON/ });
});
