import test from 'ava';
import { freeUdpPort, gstLaunch } from '../support/gstreamer.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { statusWhere } from '../cli/cli-events.js';
import { samplesFromS16le, samplesFromWav, toneShare, rms } from '../support/audio-analysis.js';

// Interoperability with a standard RTP stack: GStreamer from Debian decodes what `intercom send`
// sends, and `intercom recv` plays what GStreamer sends, for Opus (RFC 7587) and L16 (RFC 3551).
// GStreamer's payloaders run with their defaults (payload type 96 for both): `intercom recv` has no
// signaling, so it takes any dynamic payload type as the codec it was started with.


const formats = [
  {
    name: 'rtp-opus',
    depay: 'application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111 ! rtpjitterbuffer latency=60 ! rtpopusdepay ! opusdec',
    pay: 'audio/x-raw,format=S16LE,rate=48000,channels=1 ! opusenc bitrate=32000 frame-size=20 ! rtpopuspay',
  },
  {
    name: 'rtp-l16',
    depay: 'application/x-rtp,media=audio,clock-rate=48000,encoding-name=L16,encoding-params=1,channels=1,payload=96 ! rtpjitterbuffer latency=60 ! rtpL16depay',
    // 20 ms packets (the default would fill the MTU); the payload type stays the default.
    pay: 'audio/x-raw,format=S16BE,rate=48000,channels=1 ! rtpL16pay mtu=2000 min-ptime=20000000 max-ptime=20000000',
  },
] as const;

for (const format of formats) {
  test.serial(`GStreamer decodes what intercom send sends (${format.name})`, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-gst-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const port = await freeUdpPort();
    const out = path.join(dir, 'decoded.raw');
    const gst = gstLaunch(
      `udpsrc address=127.0.0.1 port=${port} caps=${format.depay} ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! filesink location=${out}`,
    );
    t.teardown(() => gst.child.kill('SIGKILL'));
    await gst.playing;

    const sender = runCli(['send', '127.0.0.1', String(port), '--format', format.name, '--seconds', '2', '--json']);
    t.teardown(() => sender.child.kill('SIGKILL'));
    const summary = await sender.waitFor('summary');
    t.is((await sender.exited).code, 0);
    t.true((summary.packetsSent as number) >= 95, `sent ${summary.packetsSent} packets in 2 s`);

    gst.child.kill('SIGINT'); // -e turns this into an end-of-stream, so the file is complete
    t.is((await gst.exited).code, 0, gst.output());
    const decoded = samplesFromS16le(await readFile(out));
    t.true(decoded.length >= 48_000 * 1.5, `decoded ${decoded.length / 48} ms`);
    const middle = decoded.subarray(24_000, 24_000 + 48_000);
    t.true(toneShare(middle, 440) > 0.9, `440 Hz share ${toneShare(middle, 440)}`);
    t.true(rms(middle) > 5000, `rms ${rms(middle)}`);
  });

  test.serial(`intercom recv plays what GStreamer sends (${format.name})`, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-gst-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const wav = path.join(dir, 'received.wav');
    const receiver = runCli(['recv', '0', '--host', '127.0.0.1', '--format', format.name, '--wav', wav, '--json']);
    t.teardown(() => receiver.child.kill('SIGKILL'));
    const { port } = await receiver.waitFor('listening');

    const gst = gstLaunch(
      `audiotestsrc is-live=true num-buffers=100 samplesperbuffer=960 freq=440 volume=0.5 ! ${format.pay} ! udpsink host=127.0.0.1 port=${port}`,
    );
    t.teardown(() => gst.child.kill('SIGKILL'));
    t.is((await gst.exited).code, 0, gst.output());

    // Once the receiver has reported every packet, stop it.
    await statusWhere(receiver, (status) => status.packetsReceived >= 100);
    receiver.stop();
    const summary = await receiver.waitFor('summary');
    t.is((await receiver.exited).code, 0);
    // opusenc flushes one extra packet at end of stream, so Opus may bring 101.
    t.true((summary.packetsReceived as number) >= 100 && (summary.packetsReceived as number) <= 101, `received ${summary.packetsReceived}`);
    t.is(summary.packetsLost, 0);
    t.is(summary.packetsMalformed, 0);

    const received = samplesFromWav(await readFile(wav));
    const loudest = findLoudSecond(received);
    t.true(toneShare(loudest, 440) > 0.9, `440 Hz share ${toneShare(loudest, 440)}`);
    t.true(rms(loudest) > 5000, `rms ${rms(loudest)}`);
  });
}

/** The one-second window with the most energy: where the 2 s tone sits in a longer recording. */
function findLoudSecond(samples: Int16Array): Int16Array {
  let best = samples.subarray(0, 48_000);
  for (let start = 0; start + 48_000 <= samples.length; start += 4_800) {
    const window = samples.subarray(start, start + 48_000);
    if (rms(window) > rms(best)) best = window;
  }
  return best;
}
