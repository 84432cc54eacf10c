import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnitSelfTest } from '../../src/selftest/unit-selftest.js';
import { captureLogger } from '../support/fake-gpio.js';

// The last self-test kept in <dataDir>/selftest.json: the status and the API serve it as it is, so
// a file that is not what the report's schema says (hand-edited, from an older version) is set
// aside at start with a log line, instead of failing the status later.

const noAudio = { audioAvailable: false, setLocalSound: () => undefined, setMicTap: () => undefined };
const report = {
  speakerHeard: true,
  microphoneLive: true,
  microphoneClipped: false,
  echoDelayMs: 12.5,
  couplingDb: -7.1,
  echoToNoiseDb: 48,
  noiseFloorDbfs: -61.2,
  cancellerConverged: true,
  cancellerErleDb: 31.4,
  problems: [],
};

async function storeHolding(t: ExecutionContext, content: unknown) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'selftest-store-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await writeFile(path.join(dataDir, 'selftest.json'), JSON.stringify(content));
  const { logger, lines } = captureLogger();
  const store = new UnitSelfTest({ audio: noAudio, dataDir, inCall: () => false, logger });
  await store.load();
  return { store, dataDir, errors: lines.filter((line) => line.level >= 50) };
}

test('a stored report of the right shape is loaded for the status', async (t) => {
  const stored = { at: '2026-12-06T08:00:00.000Z', report };
  const { store, errors } = await storeHolding(t, stored);
  t.deepEqual(store.latest(), stored);
  t.deepEqual(errors, []);
});

for (const [what, content] of [
  ['a report without its echo figures', { at: '2026-12-06T08:00:00.000Z', report: { speakerHeard: true, microphoneLive: true, problems: [] } }],
  ['a figure that is not a number (what JSON makes of -Infinity)', { at: '2026-12-06T08:00:00.000Z', report: { ...report, echoToNoiseDb: null } }],
  ['no time', { report }],
] as const) {
  test(`a stored file with ${what} is set aside with a log line, and the unit starts as never tested`, async (t) => {
    const { store, dataDir, errors } = await storeHolding(t, content);
    t.is(store.latest(), null);
    t.false(existsSync(path.join(dataDir, 'selftest.json')));
    t.true((await readdir(dataDir)).some((name) => name.startsWith('selftest.json.corrupt-')));
    t.is(errors.length, 1);
    t.is(errors[0]!.msg, 'self-test file is corrupt; it was kept aside');
    t.regex(String(errors[0]!.reason), /^is not a self-test file \(/);
  });
}
