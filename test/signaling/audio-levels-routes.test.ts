import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startUnit, api, type TestUnit } from '../support/unit-harness.js';
import { micGainFactor, volumeFactor } from '../../src/audio/audio-levels.js';
// @ts-expect-error: a plain ES module shipped in the image, without type declarations
import { applyAudioLevels, parseSettings } from '../../image/overlay/usr/lib/intercom-image/settings.mjs';

// GET/PUT /api/audio/levels on a whole unit (createUnit, media double that records the software
// gains: a media double has no mixer), the levels in the status and the event stream, and the
// levels kept in the data directory across a restart and not undone by intercom.txt at the next boot.

async function dataDirFor(t: import('ava').ExecutionContext): Promise<string> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'intercom-levels-api-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  return dataDir;
}

async function unitOn(t: import('ava').ExecutionContext, dataDir: string): Promise<TestUnit> {
  const unit = await startUnit('Levels', { dataDir });
  t.teardown(() => unit.close());
  return unit;
}

test('the levels start at audio.volume and audio.micGain; PUT changes them, in software without a mixer, and the status shows them', async (t) => {
  const unit = await unitOn(t, await dataDirFor(t));
  t.deepEqual((await api(unit, 'GET', '/api/audio/levels')).body, {
    volume: 80,
    micGain: 50,
    muted: false,
    volumeControl: 'software',
    micGainControl: 'software',
    changedAt: null,
    changedBy: null,
  });
  const put = await api(unit, 'PUT', '/api/audio/levels', { volume: 35, micGain: 70 });
  t.is(put.status, 200);
  t.like(put.body, { volume: 35, micGain: 70, muted: false, changedBy: 'api' });
  t.is(unit.media.playbackGain, volumeFactor(35));
  t.is(unit.media.captureGain, micGainFactor(70));
  t.like((await api(unit, 'GET', '/api/status')).body.levels, { volume: 35, micGain: 70, muted: false });

  t.like((await api(unit, 'PUT', '/api/audio/levels', { muted: true })).body, { muted: true, volume: 35 });
  t.true(unit.media.micMuted);
  t.like((await api(unit, 'PUT', '/api/audio/levels', { muted: false })).body, { muted: false });
  t.false(unit.media.micMuted);
});

test('bad levels are refused with a reason naming the field, and change nothing', async (t) => {
  const unit = await unitOn(t, await dataDirFor(t));
  for (const [body, field] of [
    [{ volume: 101 }, /volume/],
    [{ micGain: -1 }, /micGain/],
    [{ volume: 50.5 }, /volume/],
    [{ volume: '50' }, /volume/],
    [{ muted: 'yes' }, /muted/],
    [{ loudness: 3 }, /additional/],
    [{}, /fewer than 1/],
  ] as const) {
    const answer = await api(unit, 'PUT', '/api/audio/levels', body);
    t.is(answer.status, 400, JSON.stringify(body));
    t.is(answer.body.error, 'bad-request');
    t.regex(answer.body.message, field, JSON.stringify(body));
  }
  t.like((await api(unit, 'GET', '/api/audio/levels')).body, { volume: 80, micGain: 50, muted: false, changedAt: null });
});

test('volume and gain survive a restart on the same data directory; the mute does not', async (t) => {
  const dataDir = await dataDirFor(t);
  const first = await startUnit('Levels', { dataDir });
  await api(first, 'PUT', '/api/audio/levels', { volume: 42, micGain: 61, muted: true });
  await first.close();
  t.like(JSON.parse(await readFile(path.join(dataDir, 'audio-levels.json'), 'utf8')), { version: 1, volume: 42, micGain: 61, changedBy: 'api' });

  const second = await unitOn(t, dataDir);
  t.like((await api(second, 'GET', '/api/audio/levels')).body, { volume: 42, micGain: 61, muted: false, changedBy: 'api' });
  t.is(second.media.playbackGain, volumeFactor(42), 'applied at start');
  t.is(second.media.captureGain, micGainFactor(61));
});

test('intercom.txt at boot: a new volume= applies, the same one at the next boot does not undo the panel', async (t) => {
  const dataDir = await dataDirFor(t);
  const boot = (text: string) => applyAudioLevels({ values: parseSettings(text).values, dataDir, defaults: { volume: 80, micGain: 50 } });

  boot('volume=25\n');
  const first = await startUnit('Levels', { dataDir });
  t.like((await api(first, 'GET', '/api/audio/levels')).body, { volume: 25, micGain: 50, changedBy: 'intercom.txt' });
  await api(first, 'PUT', '/api/audio/levels', { volume: 65 });
  await first.close();

  boot('volume=25\n');
  const second = await startUnit('Levels', { dataDir });
  t.like((await api(second, 'GET', '/api/audio/levels')).body, { volume: 65, changedBy: 'api' }, 'the reboot kept the panel\'s volume');
  await second.close();

  boot('volume=30\n');
  const third = await unitOn(t, dataDir);
  t.like((await api(third, 'GET', '/api/audio/levels')).body, { volume: 30, changedBy: 'intercom.txt' }, 'a changed value on the card applies');
});

test('/api/events sends the levels on connect and at every change', async (t) => {
  const unit = await unitOn(t, await dataDirFor(t));
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${unit.baseUrl}/api/events`, { headers: { ...unit.auth }, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const levelsEvents = () => [...text.matchAll(/^event: levels\ndata: (.*)$/gm)].map((match) => JSON.parse(match[1]!));
  const until = async (count: number) => {
    while (levelsEvents().length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      text += value;
    }
    return levelsEvents();
  };
  t.like((await until(1))[0], { volume: 80, muted: false });
  await api(unit, 'PUT', '/api/audio/levels', { volume: 10 });
  t.like((await until(2))[1], { volume: 10 });
  await api(unit, 'PUT', '/api/audio/levels', { muted: true });
  t.like((await until(3))[2], { volume: 10, muted: true });
});
