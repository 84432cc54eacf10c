import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync, openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchUnit } from '../support/unit-process.js';
import { storePanelPassword } from '../../src/security/people-password.js';

// The unit's data disk fills up: registering a user fails with a clear answer, the users file on
// disk keeps its old content (nothing half-written, no temp file left), the unit keeps running, and
// once there is space again registration works. The data dir is a 64 KiB tmpfs (needs root).

function mountTinyTmpfs(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-fulldisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', dir]);
  return dir;
}

/** Writes zeros into `file` until the file system says ENOSPC. */
function fillUp(file: string): number {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return written;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}

test.serial('a full data disk answers 507/503 naming the cause: registration fails clearly, the users file is intact, and works again once there is space', async (t) => {
  const dataDir = mountTinyTmpfs();
  t.teardown(() => {
    execFileSync('umount', ['-l', dataDir]);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const unit = await launchUnit(t, { name: 'Full', dataDir });
  t.is((await unit.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  const usersFile = path.join(dataDir, 'users.json');
  const before = readFileSync(usersFile, 'utf8');
  t.deepEqual(
    JSON.parse(before).users.map((user: { name: string }) => user.name),
    ['Kitchen'],
  );

  const filler = path.join(dataDir, 'filler');
  t.true(fillUp(filler) > 0);
  const refused = await unit.api('POST', '/api/users/register', { name: 'Garage' });
  t.log(`registration on a full disk: ${refused.status} ${JSON.stringify(refused.body)}`);
  t.true(refused.status === 507 || refused.status === 503, `a full disk is answered 507 or 503 with its reason, not ${refused.status}`);
  t.regex(refused.body.message, /space|full|disk|storage/i);
  t.is(typeof refused.body?.error, 'string');
  t.is(typeof refused.body?.message, 'string');
  // Setting a new panel password (what `intercom password` does) fails the same way and keeps the old one.
  const passwordFile = path.join(dataDir, 'panel-password');
  const passwordBefore = readFileSync(passwordFile, 'utf8');
  await t.throwsAsync(() => storePanelPassword(dataDir, 'a new panel password'), { code: 'ENOSPC' });
  t.is(readFileSync(passwordFile, 'utf8'), passwordBefore);
  // Nothing half-written: the old file byte for byte, and no temp file beside it.
  t.is(readFileSync(usersFile, 'utf8'), before);
  t.deepEqual(
    readdirSync(dataDir).filter((name) => name.endsWith('.tmp')),
    [],
  );
  // The failed user is not half-registered in memory either.
  const listed = (await unit.api('GET', '/api/users')).body.users.map((user: { name: string }) => user.name);
  t.false(listed.includes('Garage'), JSON.stringify(listed));
  t.true(listed.includes('Kitchen'));
  t.is((await unit.api('GET', '/api/health')).status, 200, 'the unit keeps running');
  await unit.login();
  t.is((await unit.api('GET', '/api/users')).status, 200, 'a new login with the old password works');

  unlinkSync(filler);
  t.is((await unit.api('POST', '/api/users/register', { name: 'Garage' })).status, 201);
  t.deepEqual(JSON.parse(readFileSync(usersFile, 'utf8')).users.map((user: { name: string }) => user.name).sort(), ['Garage', 'Kitchen']);
  await unit.stop();
});
