import test from 'ava';
import { createVirtualAlsa } from '../support/virtual-alsa.js';
import { launchUnit } from '../support/unit-process.js';

// A unit started on a machine without any sound device, configured for devices that are not
// there, still starts and serves: /api/health answers, and /api/status says audio is unavailable
// and why, naming the device it looked for, so the installer sees what to fix.

test('with no sound device the service runs, and its status says audio is unavailable naming the device looked for', async (t) => {
  // No virtual devices and no ALSA default: PortAudio finds no usable sound device.
  const alsa = await createVirtualAlsa({ mics: [], speakers: [], defaultMic: null, defaultSpeaker: null });
  t.teardown(() => alsa.dispose());
  const unit = await launchUnit(t, {
    name: 'no-sound',
    env: alsa.env,
    config: { audio: { captureDevice: 'usb_mic_not_plugged_in', playbackDevice: 'usb_speaker_not_plugged_in' } },
  });

  const ready = await unit.waitForLog((line) => line.msg === 'intercom ready');
  t.is(ready.audio, false);
  const warning = await unit.waitForLog((line) => line.level === 40 && typeof line.msg === 'string' && line.msg.startsWith('audio unavailable'));
  t.like(warning.err, { wanted: 'usb_mic_not_plugged_in', direction: 'capture' });

  const health = await fetch(`${unit.baseUrl}/api/health`);
  t.is(health.status, 200);
  t.like(await health.json(), { ok: true, name: 'no-sound' });

  const { status, body } = await unit.api('GET', '/api/status');
  t.is(status, 200);
  t.log(JSON.stringify(body.audio));
  t.like(body.audio, { available: false, captureDevice: null, playbackDevice: null });
  // Capture is opened first, so the error names the capture device it looked for.
  t.regex(body.audio.error, /no capture device matches "usb_mic_not_plugged_in"/);
  t.regex(body.audio.error, /available capture devices: none$/);

  // The unit still does what needs no sound: it answers the API and stays up.
  t.is(unit.child.exitCode, null);
  t.is((await fetch(`${unit.baseUrl}/api/health`)).status, 200);
});
