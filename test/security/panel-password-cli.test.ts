import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { panelPasswordPath, readPanelPassword, verifyPanelPassword } from '../../src/security/people-password.js';
import { launchUnit } from '../support/unit-process.js';
import { loginWithFetch } from '../support/people-session.js';

// `intercom password` as a real process: it reads the new password from stdin, stores only its
// hash in the data dir the unit's configuration names (or --data-dir), refuses unusable passwords,
// and a running unit takes the new password at its next login, without a restart.

const CLI = fileURLToPath(new URL('../../src/cli/intercom.ts', import.meta.url));
const REPO_CONFIG = fileURLToPath(new URL('../../config', import.meta.url));

async function runPasswordCommand(stdin: string, options: { args?: string[]; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'password', ...(options.args ?? [])], {
    env: { ...process.env, NODE_CONFIG_DIR: REPO_CONFIG, SUPPRESS_NO_CONFIG_WARNING: 'y', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(stdin);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-password-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('reads the password from stdin and stores its scrypt hash, mode 0640, in the configured data dir', async (t) => {
  const dataDir = await tempDir(t);
  const result = await runPasswordCommand('correct horse battery\n', { env: { NODE_CONFIG: JSON.stringify({ dataDir }) } });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /panel password set/);
  t.false(result.stdout.includes('correct horse'), 'the password is never printed');
  const record = await readPanelPassword(dataDir);
  t.truthy(record);
  t.true(await verifyPanelPassword(record!, 'correct horse battery'), 'the line break echo adds is not part of the password');
  t.false(await verifyPanelPassword(record!, 'correct horse battery\n'));
  t.is((await stat(panelPasswordPath(dataDir))).mode & 0o777, 0o640);
});

test('refuses short passwords and line breaks inside, and leaves the stored password alone', async (t) => {
  const dataDir = await tempDir(t);
  t.is((await runPasswordCommand('first password', { args: ['--data-dir', dataDir] })).code, 0);
  const before = await readPanelPassword(dataDir);
  for (const [input, reason] of [
    ['short\n', /at least 8/],
    ['', /at least 8/],
    ['two\nlines here\n', /control characters/],
  ] as const) {
    const result = await runPasswordCommand(input, { args: ['--data-dir', dataDir] });
    t.is(result.code, 1, JSON.stringify(input));
    t.regex(result.stderr, reason);
    t.regex(result.stderr, /not changed/);
  }
  t.deepEqual(await readPanelPassword(dataDir), before);
});

test('a running unit without a password: `intercom password` opens the login at once, and a second one replaces it', async (t) => {
  const unit = await launchUnit(t, { name: 'NoPassword', password: null });
  const state = async () => (await (await fetch(`${unit.baseUrl}/api/session`)).json()) as { passwordSet: boolean; howToSetPassword?: string };
  t.like(await state(), { passwordSet: false });
  t.regex((await state()).howToSetPassword ?? '', /intercom password/);
  const refused = await fetch(`${unit.baseUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"password":"the new password"}' });
  t.is(refused.status, 409);

  t.is((await runPasswordCommand('the new password\n', { args: ['--data-dir', unit.dataDir] })).code, 0);
  t.like(await state(), { passwordSet: true });
  const session = await loginWithFetch(unit.baseUrl, 'the new password');
  t.is((await fetch(`${unit.baseUrl}/api/status`, { headers: session })).status, 200);

  t.is((await runPasswordCommand('a newer password\n', { args: ['--data-dir', unit.dataDir] })).code, 0);
  t.is((await fetch(`${unit.baseUrl}/api/status`, { headers: session })).status, 401, 'the old password\'s session has ended');
  await t.throwsAsync(() => loginWithFetch(unit.baseUrl, 'the new password'), { message: /401/ });
  const newer = await loginWithFetch(unit.baseUrl, 'a newer password');
  t.is((await fetch(`${unit.baseUrl}/api/status`, { headers: newer })).status, 200);
});
