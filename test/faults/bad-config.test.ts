import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The service started with a wrong setting refuses to start with EX_CONFIG (78) and says which key
// is wrong and what it expects, on stderr and in its (pino) log on stdout.

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'src', 'main.ts');
const TSX_LOADER = import.meta.resolve('tsx');
const EXIT_BAD_CONFIG = 78;

async function startWithConfig(config: Record<string, unknown>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-badconfig-'));
  try {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, MAIN], {
      cwd: dataDir,
      env: {
        ...process.env,
        NODE_CONFIG_DIR: path.join(REPO_ROOT, 'config'),
        // A valid base, so the only fault is the one under test.
        NODE_CONFIG: JSON.stringify({ http: { host: '127.0.0.1', port: 0 }, dataDir, discovery: { dnsSd: false }, site: { secret: 'bad-config-test-site-secret' }, ...config }),
        SUPPRESS_NO_CONFIG_WARNING: 'y',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Generous: seven of these start at once, each compiling the sources through tsx on a cold cache.
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    clearTimeout(killer);
    return { code, stdout, stderr };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const cases: { title: string; config: Record<string, unknown>; key: string; expected: RegExp }[] = [
  { title: 'audio.udpPort is not a number', config: { audio: { udpPort: 'x' } }, key: 'audio.udpPort', expected: /is "x"; expected an integer from 0 to 65535/ },
  { title: 'audio.format is not a supported format', config: { audio: { format: 'mp3' } }, key: 'audio.format', expected: /expected one of .*"rtp-opus"/ },
  { title: 'audio.udpPort out of range', config: { audio: { udpPort: 70000 } }, key: 'audio.udpPort', expected: /is 70000; expected an integer from 0 to 65535/ },
  { title: 'the seed format with 10 ms frames', config: { audio: { format: 'seed', frameMs: 10 } }, key: 'audio.frameMs', expected: /is 10 with audio\.format "seed": .*20 ms/ },
  { title: 'jitter.minMs exceeds jitter.maxMs', config: { jitter: { minMs: 300, maxMs: 100 } }, key: 'jitter.minMs', expected: /must not exceed jitter\.maxMs \(100\)/ },
  { title: 'an unknown key', config: { audio: { sampleRat: 44_100 } }, key: 'audio.sampleRat', expected: /not a known setting/ },
  { title: 'two GPIO roles on one pin', config: { gpio: { callButton: 6, answerButton: 6 } }, key: 'gpio.answerButton', expected: /is BCM 6, which gpio\.callButton uses already/ },
];

for (const { title, config, key, expected } of cases) {
  test(`bad config refuses to start: ${title}`, async (t) => {
    const { code, stdout, stderr } = await startWithConfig(config);
    t.is(code, EXIT_BAD_CONFIG, `exit code (stderr: ${stderr.slice(-500)})`);
    const refusal = stderr.split('\n').find((line) => line.startsWith('intercom: refusing to start:'));
    t.truthy(refusal, stderr.slice(-500));
    t.true(refusal!.includes(`"${key}"`), `names the key ${key}: ${refusal}`);
    t.log(refusal);
    t.regex(refusal!, expected);
    // The log line carries the key as a field, for journald/log tooling.
    const logged = stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; key?: string; msg: string });
    t.true(logged.some((line) => line.level === 60 && line.key === key && line.msg.includes('refusing to start')), stdout);
    // It refused before opening anything: no "intercom ready".
    t.false(stdout.includes('intercom ready'));
  });
}
