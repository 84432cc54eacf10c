import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { joinRoom } from '../support/room-simulator/alsa-room.js';
import { launchUnit } from '../support/unit-process.js';
import { collectPageProblems, launchChromium, screenshot, logIntoPanel } from '../support/browser.js';

// The acoustic self-test of a running unit (a real unit process on its ALSA engine, its virtual
// speaker joined to its virtual microphone by the room simulator): the panel's "Test the sound"
// button in real Chromium runs it, the report shows the room's echo path, and the status and the
// data directory keep it with its time. Then the API on a room whose speaker the mic cannot hear.

const MIC = 'unit_selftest_mic';
const SPEAKER = 'unit_selftest_spk';
/** The whole test plays 5.2 s of signal with a lead-in and a tail; a busy machine takes longer. */
const TEST_MS = 60_000;

async function unitInRoom(t: ExecutionContext, couplingDb: number, seed: number) {
  const alsa = await createVirtualAlsa({ mics: [MIC], speakers: [SPEAKER], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const room = joinRoom(alsa, { speaker: SPEAKER, mic: MIC, path: { delayMs: 10, rt60Ms: 250, couplingDb, seed }, noiseDbfs: -60 });
  t.teardown(() => room.dispose());
  const unit = await launchUnit(t, { name: 'Door', env: alsa.env, config: { audio: { captureDevice: MIC, playbackDevice: SPEAKER } } });
  return { unit, room };
}

test.serial("the panel's Test the sound finds the room's echo path through the unit's own engine; the status and the data directory keep the report", async (t) => {
  t.timeout(3 * 60_000);
  const { unit, room } = await unitInRoom(t, -6, 72);
  t.like((await unit.api('GET', '/api/status')).body, { selfTest: null });

  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const problems = collectPageProblems(page, 'Door');
  await logIntoPanel(page, unit.baseUrl, 15_000);
  await page.getByText('Never tested on this unit.').waitFor({ timeout: 15_000 });

  await page.getByRole('button', { name: 'Test the sound' }).click();
  await page.getByRole('button', { name: 'Testing…' }).waitFor({ timeout: 5_000 });
  const firstLine = page.locator('#selftest-result li').first();
  await firstLine.waitFor({ timeout: TEST_MS });
  const shown = await page.locator('#selftest-result li').allTextContents();
  t.log(shown.join('\n'), `harness delay ${room.harnessDelayMs?.toFixed(1)} ms`);
  t.regex(shown[0]!, /^Speaker: heard by the microphone \d+ ms after playing, -\d+ dB$/);
  t.regex(shown[1]!, /^Microphone: live, noise -\d+ dBFS$/);
  t.regex(shown[2]!, /^Echo canceller: converged/);
  t.is(shown.at(-1), 'All good.');
  t.regex((await page.locator('#selftest-state').textContent()) ?? '', /^Last test /);
  await screenshot(page, 'selftest-result');

  const { selfTest } = (await unit.api('GET', '/api/status')).body;
  t.true(Date.now() - Date.parse(selfTest.at) < TEST_MS, `tested at ${selfTest.at}`);
  t.like(selfTest.report, { speakerHeard: true, microphoneLive: true, microphoneClipped: false, cancellerConverged: true, problems: [] });
  // The engine hands the reference that left the speaker with each mic sample, so the delay is the
  // room's 10 ms and part of the virtual card's own pipes (at most the harness delay: 43 ms of
  // 50 measured here), not the devices' buffers that the CLI's separate streams add.
  const { echoDelayMs } = selfTest.report;
  t.true(echoDelayMs >= 10 && echoDelayMs <= 10 + room.harnessDelayMs! + 5, `delay ${echoDelayMs} ms: the room's 10 ms and at most the harness's ${room.harnessDelayMs!.toFixed(1)} ms`);
  // The coupling is relative to what the speaker played (after the default volume 80): the room's -6 dB.
  t.true(Math.abs(selfTest.report.couplingDb - -6) <= 3, `coupling ${selfTest.report.couplingDb} dB`);
  t.true(Math.abs(selfTest.report.noiseFloorDbfs - -60) <= 3, `noise floor ${selfTest.report.noiseFloorDbfs} dBFS`);
  // Kept in the data directory, as written (atomically), for the next start.
  const file = path.join(unit.dataDir, 'selftest.json');
  t.true(existsSync(file));
  t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), selfTest);
  t.deepEqual((await unit.api('GET', '/api/selftest')).body, { selfTest });
  t.deepEqual(problems, []);
});

test.serial('the API on a room where the microphone cannot hear the speaker: reported with what to check; one test at a time', async (t) => {
  t.timeout(3 * 60_000);
  const { unit } = await unitInRoom(t, -200, 73);
  const answer = await unit.api('POST', '/api/selftest');
  t.is(answer.status, 200);
  t.like(answer.body.report, { speakerHeard: false, microphoneLive: true, echoDelayMs: null });
  t.deepEqual(answer.body.report.problems, ["the microphone did not hear the speaker: check the speaker's connection and the volume"]);

  // One test at a time: a second request while one runs is refused, the first still reports.
  const linesBefore = unit.logs.length;
  const first = unit.api('POST', '/api/selftest');
  await unit.waitForLog((line) => line.msg === 'self-test: playing the test signal through the speaker' && unit.logs.indexOf(line) >= linesBefore, 10_000);
  const second = await unit.api('POST', '/api/selftest');
  t.is(second.status, 409);
  t.is(second.body.error, 'busy');
  t.is((await first).status, 200);
});
