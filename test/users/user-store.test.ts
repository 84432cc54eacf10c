import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { UserStore } from '../../src/users/user-store.js';
import { writeFileAtomic } from '../../src/system/atomic-file.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-users-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('users survive a restart and are unique by name, case-insensitively', async (t) => {
  const dir = await tempDir(t);
  const store = new UserStore(dir);
  await store.load();
  t.true((await store.add('Kitchen')).created);
  t.false((await store.add('KITCHEN')).created);
  await store.add('Front door');
  const reloaded = new UserStore(dir);
  await reloaded.load();
  t.deepEqual(reloaded.list().map((user) => user.name), ['Front door', 'Kitchen']);
  t.true(await reloaded.remove('kitchen'));
  t.false(await reloaded.remove('kitchen'));
  const again = new UserStore(dir);
  await again.load();
  t.deepEqual(again.list().map((user) => user.name), ['Front door']);
});

test('concurrent registrations are all saved', async (t) => {
  const dir = await tempDir(t);
  const store = new UserStore(dir);
  await store.load();
  await Promise.all(Array.from({ length: 20 }, (_, index) => store.add(`Room ${index}`)));
  const reloaded = new UserStore(dir);
  await reloaded.load();
  t.is(reloaded.list().length, 20);
});

test('a crash between writing the temp file and the rename leaves the old state', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  await writeFileAtomic(file, '{"v":"old"}');
  await t.throwsAsync(
    writeFileAtomic(file, '{"v":"new"}', {
      beforeRename: async (tempPath) => {
        t.is(await readFile(tempPath, 'utf8'), '{"v":"new"}', 'the new content is complete on disk before the rename');
        throw new Error('simulated crash');
      },
    }),
    { message: 'simulated crash' },
  );
  t.is(await readFile(file, 'utf8'), '{"v":"old"}');
  t.deepEqual(await readdir(dir), ['state.json'], 'no temp file left behind');
});

test('a failed save is not acknowledged and not kept in memory', async (t) => {
  const dir = await tempDir(t);
  const store = new UserStore(path.join(dir, 'missing', 'deeper'));
  // load() was never called, so the directory does not exist and the write fails.
  await t.throwsAsync(store.add('Kitchen'));
  t.deepEqual(store.list(), []);
});

test('a corrupt user file is reported, kept aside, and the unit starts empty', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'users.json'), '{"version":1,"users":[{"name":"Kit');
  const logged: unknown[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
  const store = new UserStore(dir, logger);
  await store.load();
  t.deepEqual(store.list(), []);
  const files = await readdir(dir);
  const kept = files.find((name) => name.startsWith('users.json.corrupt-'));
  t.truthy(kept, `kept aside: ${files.join(', ')}`);
  t.is(await readFile(path.join(dir, kept!), 'utf8'), '{"version":1,"users":[{"name":"Kit');
  t.like(logged[0], { level: 50, file: path.join(dir, 'users.json') });
  t.regex((logged[0] as { reason: string }).reason, /not valid JSON/);
  // The next save writes a fresh file and leaves the kept one alone.
  await store.add('Kitchen');
  t.true((await readdir(dir)).includes(kept!));
});

test('a well-formed file with invalid entries also counts as corrupt', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'users.json'), JSON.stringify({ version: 1, users: [{ name: '' }] }));
  const store = new UserStore(dir);
  await store.load();
  t.deepEqual(store.list(), []);
  t.true((await readdir(dir)).some((name) => name.startsWith('users.json.corrupt-')));
});

test('kill -9 at random moments during saves never leaves a broken file', async (t) => {
  const dir = await tempDir(t);
  const script = path.join(dir, 'writer.mts');
  const storeModule = new URL('../../src/users/user-store.ts', import.meta.url).pathname;
  await writeFile(
    script,
    `import { UserStore } from ${JSON.stringify(storeModule)};
     const store = new UserStore(process.argv[2]);
     await store.load();
     process.stdout.write('ready\\n');
     for (let i = 0; ; i++) { await store.add('Room ' + i + ' ' + 'x'.repeat(i % 30)); if (store.list().length > 50) await store.remove(store.list()[0].name); }`,
  );
  const dataDir = path.join(dir, 'data');
  for (let round = 0; round < 8; round++) {
    const child = spawn(process.execPath, ['--import=tsx', script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const text = await readFile(path.join(dataDir, 'users.json'), 'utf8');
    const parsed = JSON.parse(text);
    t.is(parsed.version, 1);
    const store = new UserStore(dataDir);
    await store.load();
    t.is(store.list().length, parsed.users.length);
    t.deepEqual((await readdir(dataDir)).filter((name) => name !== 'users.json'), [], 'no corrupt or temp files after a reload');
  }
});
