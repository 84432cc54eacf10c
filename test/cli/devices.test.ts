import test from 'ava';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { runCli } from '../support/cli.js';
import { textLines } from './cli-events.js';

// `intercom devices` lists what PortAudio sees, and --device/--mic naming a device that does not
// exist ends the command with exit code 1 and a message naming the wanted and the available ones.

const MIC = 'cli_test_mic';
const SPEAKER = 'cli_test_spk';

test('intercom devices lists the virtual ALSA devices by name, as text and as JSON', async (t) => {
  const alsa = await createVirtualAlsa({ mics: [MIC], speakers: [SPEAKER] });
  t.teardown(() => alsa.dispose());

  const human = runCli(['devices'], alsa.env);
  t.teardown(() => human.child.kill('SIGKILL'));
  t.is((await human.exited).code, 0);
  const rows = textLines(human).map((line) => line.trim().split(/\s+/));
  for (const name of [MIC, SPEAKER]) {
    const row = rows.find((columns) => columns[2] === name);
    t.truthy(row, `${name} listed in:\n${textLines(human).join('\n')}`);
    t.regex(row![0], /^\d+$/, 'an id first');
    t.regex(row![1], /capture|playback/);
  }

  const json = runCli(['devices', '--json'], alsa.env);
  t.teardown(() => json.child.kill('SIGKILL'));
  t.is((await json.exited).code, 0);
  t.is(json.lines.length, 1);
  const devices = json.lines[0] as unknown as { id: number; name: string; maxInputChannels: number; maxOutputChannels: number }[];
  t.true(Array.isArray(devices));
  const byName = new Map(devices.map((device) => [device.name, device]));
  t.true(byName.get(MIC)!.maxInputChannels > 0);
  t.true(byName.get(SPEAKER)!.maxOutputChannels > 0);
  // The text listing shows the same devices under the same ids.
  t.deepEqual(
    rows.map((columns) => `${columns[0]} ${columns[2]}`),
    devices.map((device) => `${device.id} ${device.name}`),
  );
});

test('intercom devices on a machine with no sound device says so', async (t) => {
  const alsa = await createVirtualAlsa({ mics: [], speakers: [], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const human = runCli(['devices'], alsa.env);
  t.teardown(() => human.child.kill('SIGKILL'));
  t.is((await human.exited).code, 0);
  t.deepEqual(textLines(human), ['no audio devices found']);
  const json = runCli(['devices', '--json'], alsa.env);
  t.teardown(() => json.child.kill('SIGKILL'));
  t.is((await json.exited).code, 0);
  t.deepEqual(json.lines, [[]] as unknown[]);
});

for (const { command, option, direction, wanted } of [
  { command: ['recv', '0', '--host', '127.0.0.1'], option: '--device', direction: 'playback', wanted: 'no_such_speaker' },
  { command: ['send', '127.0.0.1', '9'], option: '--mic', direction: 'capture', wanted: 'no_such_microphone' },
]) {
  test(`intercom ${command[0]} ${option} naming a missing device exits 1 naming it and the available ones`, async (t) => {
    const alsa = await createVirtualAlsa({ mics: [MIC], speakers: [SPEAKER] });
    t.teardown(() => alsa.dispose());
    const run = runCli([...command, option, wanted, '--json'], alsa.env);
    t.teardown(() => run.child.kill('SIGKILL'));
    const { code, stderr } = await run.exited;
    t.is(code, 1);
    const message = stderr.split('\n').find((line) => line.startsWith('intercom: '));
    t.truthy(message, stderr);
    t.log(message);
    t.true(message!.includes(`no ${direction} device matches "${wanted}"`), message);
    const available = message!.slice(message!.indexOf(`available ${direction} devices: `));
    t.true(available.includes(`"${MIC}"`) && available.includes(`"${SPEAKER}"`), message);
    // Nothing was received or sent: it failed before printing any status.
    t.false(run.lines.some((line) => line.type === 'status' || line.type === 'summary'));
  });
}
