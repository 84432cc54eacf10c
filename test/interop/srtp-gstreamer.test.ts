import test, { type ExecutionContext } from 'ava';
import { freeUdpPort, gstLaunch } from '../support/gstreamer.js';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import defaults from '../../config/default.json' with { type: 'json' };
import { validateConfig } from '../../src/config/validate.js';
import { createUnit } from '../../src/unit.js';
import { unitMediaOf } from '../support/fake-call-media.js';
import { CallAudio } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import type { CallMedia } from '../../src/calls/call-media.js';
import { createSrtpOffer } from '../../src/media/srtp-negotiation.js';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { opusCodec } from '../../src/codec/opus.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat } from '../../src/media/packet-format.js';
import { OPUS_PAYLOAD_TYPE } from '../../src/media/wire-format.js';
import { generateSrtpMasterKeys, parseSrtpKeyParams, srtpPacketFormat, type SrtpMasterKeys } from '../../src/media/srtp.js';
import { samplesFromS16le, toneShare, rms } from '../support/audio-analysis.js';

// The proof that our SRTP is the standard one: libsrtp, through GStreamer's srtpdec and srtpenc
// (Debian gstreamer1.0-plugins-bad), decodes what we protect and produces what we unprotect.

const FRAME_SAMPLES = 960;
const FRAMES = 100; // 2 s of 20 ms frames
const SSRC = 0x1badcafe;


/** GStreamer's key for srtpenc/srtpdec is the SDES key material: master key then master salt. */
function gstKey(keys: SrtpMasterKeys): string {
  return Buffer.concat([keys.masterKey, keys.masterSalt]).toString('hex');
}

function toneFrame(frame: number): Int16Array {
  const pcm = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) pcm[i] = Math.round(16_000 * Math.sin((2 * Math.PI * 440 * (frame * FRAME_SAMPLES + i)) / 48_000));
  return pcm;
}

test.serial('GStreamer srtpdec (libsrtp) decodes the Opus-in-SRTP we send, across a sequence wrap', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-srtp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keys = generateSrtpMasterKeys();
  const port = await freeUdpPort();
  const out = path.join(dir, 'decoded.raw');
  const caps =
    `application/x-srtp,media=(string)audio,clock-rate=(int)48000,encoding-name=(string)OPUS,payload=(int)${OPUS_PAYLOAD_TYPE},` +
    `ssrc=(uint)${SSRC},srtp-key=(buffer)${gstKey(keys)},srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,` +
    'srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0';
  const gst = gstLaunch(
    `udpsrc address=127.0.0.1 port=${port} caps=${caps} ! srtpdec ! rtpjitterbuffer latency=60 ! rtpopusdepay ! opusdec ! ` +
      `audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! filesink location=${out}`,
  );
  t.teardown(() => gst.child.kill('SIGKILL'));
  await gst.playing;

  const sender = new MediaSender({
    encoder: opusCodec.createEncoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000 }),
    packetFormat: srtpPacketFormat(rtpPacketFormat(OPUS_PAYLOAD_TYPE), keys),
    frameSamples: FRAME_SAMPLES,
    ssrc: SSRC,
    initialSequence: 65_500, // the rollover counter becomes 1 after 36 packets
    initialTimestamp: 123_456,
  });
  t.teardown(() => sender.close());
  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  // Paced in real time, as a call sends, so the receiving jitter buffer sees an ordinary stream.
  for (let frame = 0; frame < FRAMES; frame++) {
    await new Promise<void>((resolve, reject) => socket.send(sender.sendFrame(toneFrame(frame)), port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.is(sender.packetsSent, FRAMES);

  gst.child.kill('SIGINT'); // -e turns this into an end-of-stream, so the file is complete
  t.is((await gst.exited).code, 0, gst.output());
  const decoded = samplesFromS16le(await readFile(out));
  t.true(decoded.length >= 48_000 * 1.8, `decoded ${decoded.length / 48} ms of ${FRAMES * 20} ms sent`);
  const middle = decoded.subarray(24_000, 24_000 + 48_000);
  t.true(toneShare(middle, 440) > 0.9, `440 Hz share ${toneShare(middle, 440)}`);
  t.true(rms(middle) > 5000, `rms ${rms(middle)}`);
});

test.serial('our unprotect decodes what GStreamer srtpenc (libsrtp) sends across a sequence wrap, and rejects it under another key', async (t) => {
  const keys = generateSrtpMasterKeys();
  const format = srtpPacketFormat(rtpPacketFormat(OPUS_PAYLOAD_TYPE), keys);
  const wrongKeyFormat = srtpPacketFormat(rtpPacketFormat(OPUS_PAYLOAD_TYPE), generateSrtpMasterKeys());
  const decoder = opusCodec.createDecoder({ frameSamples: FRAME_SAMPLES, bitrate: 32_000 });
  t.teardown(() => decoder.close());

  const socket = dgram.createSocket('udp4');
  t.teardown(() => socket.close());
  const packets: { sequence: number; pcm: Int16Array }[] = [];
  const rejections: string[] = [];
  let acceptedUnderWrongKey = 0;
  socket.on('message', (datagram) => {
    if (wrongKeyFormat.parse(datagram).ok) acceptedUnderWrongKey++;
    const parsed = format.parse(datagram);
    if (!parsed.ok) {
      rejections.push(parsed.reason);
      return;
    }
    packets.push({ sequence: parsed.packet.sequence, pcm: decoder.decode(parsed.packet.payload) });
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();

  const gst = gstLaunch(
    `audiotestsrc is-live=true num-buffers=${FRAMES} samplesperbuffer=${FRAME_SAMPLES} freq=440 volume=0.5 ! ` +
      'audio/x-raw,format=S16LE,rate=48000,channels=1 ! opusenc bitrate=32000 frame-size=20 ! ' +
      `rtpopuspay pt=${OPUS_PAYLOAD_TYPE} ssrc=${SSRC} seqnum-offset=65500 ! ` +
      `srtpenc key=${gstKey(keys)} rtp-cipher=aes-128-icm rtp-auth=hmac-sha1-80 rtcp-cipher=aes-128-icm rtcp-auth=hmac-sha1-80 ! ` +
      `udpsink host=127.0.0.1 port=${port}`,
  );
  t.teardown(() => gst.child.kill('SIGKILL'));
  t.is((await gst.exited).code, 0, gst.output());
  // The last datagrams may still be in the socket buffer when gst-launch exits.
  await new Promise<void>((resolve) => {
    const check = () => (packets.length + rejections.length >= FRAMES ? resolve() : setTimeout(check, 20));
    check();
  });

  t.deepEqual(rejections, []);
  t.is(acceptedUnderWrongKey, 0);
  // opusenc flushes one extra packet at end of stream.
  t.true(packets.length >= FRAMES && packets.length <= FRAMES + 1, `received ${packets.length}`);
  // Loopback keeps the order; the sequence numbers must have wrapped (65500 + 100 packets).
  t.true(packets.some((packet) => packet.sequence === 65_535) && packets.some((packet) => packet.sequence === 0));
  const pcm = Int16Array.from(packets.flatMap((packet) => Array.from(packet.pcm)));
  const middle = pcm.subarray(24_000, 24_000 + 48_000);
  t.true(toneShare(middle, 440) > 0.9, `440 Hz share ${toneShare(middle, 440)}`);
  t.true(rms(middle) > 5000, `rms ${rms(middle)}`);
});

// A unit's own call audio, keyed by a real call: the unit places a call to a second unit over
// signed HTTP, the two run their ephemeral X25519 exchange, and the second unit's call service
// opens the caller's sealed SRTP key and hands it to its media engine, which here is GStreamer:
// srtpdec gets exactly the key the exchange gave the callee, nothing else (no log, no back door).

async function securedServices(name: string, callMedia: CallMedia, t: ExecutionContext) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `intercom-srtp-${name}-`));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const config = validateConfig({
    ...defaults,
    unit: { name },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    discovery: { ...defaults.discovery, dnsSd: false, pollIntervalMs: 200, offlineAfterMs: 10_000, requestTimeoutMs: 5000 },
    site: { secret: SITE_SECRET, maxClockSkewMs: 30_000 },
    gpio: { ...defaults.gpio, enabled: false },
  });
  const unit = await createUnit(config, { logger: pino({ level: 'silent' }), version: '0.0.0-test', media: unitMediaOf(callMedia), webRoot: null });
  const { httpPort } = await unit.start();
  t.teardown(() => unit.stop());
  return { services: unit, httpPort };
}

const SITE_SECRET = 'the-interop-test-site-secret-01';

test.serial("GStreamer srtpdec decodes a unit's call audio with the key the call's X25519 exchange gave the other unit", async (t) => {
  t.timeout(120_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-srtp-call-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'decoded.raw');
  const gstPort = await freeUdpPort();

  // The caller: the real media engine on a real UDP socket, its "microphone" a 440 Hz tone.
  const backend = new MemoryAudioBackend();
  const callAudio = new CallAudio({
    settings: { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, complexity: 3, minDelayMs: 20, maxDelayMs: 400, srtp: true },
    captureDevice: 'default',
    playbackDevice: 'default',
    backend,
    logger: pino({ level: 'silent' }),
  });
  const transport = await UdpTransport.bind({ port: 0, host: '127.0.0.1', onDatagram: (datagram, from) => callAudio.onDatagram(datagram, from) });
  callAudio.attachTransport(transport);
  await callAudio.openDevices();
  t.teardown(async () => {
    await callAudio.close();
    await transport.close();
  });

  // The callee's media engine is GStreamer, started with the key its call service hands over.
  let gst: ReturnType<typeof gstLaunch> | undefined;
  let handedKey: SrtpMasterKeys | undefined;
  const gstMedia: CallMedia = {
    audioAvailable: true,
    audioState: () => ({ available: true, captureDevice: 'gstreamer', playbackDevice: 'gstreamer', error: null, encrypted: true }),
    prepare: () => ({ address: '', udpPort: gstPort, format: 'rtp-opus', ssrc: 0x0badf00d, frameMs: 20, crypto: createSrtpOffer() }),
    whenStarted: async () => undefined,
    start: (_callId, remote) => {
      const keys = parseSrtpKeyParams(remote.crypto?.keyParams);
      if (!keys.ok) throw new Error(keys.reason);
      handedKey = keys.keys;
      const caps =
        `application/x-srtp,media=(string)audio,clock-rate=(int)48000,encoding-name=(string)OPUS,payload=(int)${OPUS_PAYLOAD_TYPE},` +
        `ssrc=(uint)${remote.ssrc},srtp-key=(buffer)${gstKey(keys.keys)},srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,` +
        'srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint)0';
      gst = gstLaunch(
        `udpsrc address=127.0.0.1 port=${gstPort} caps=${caps} ! srtpdec ! rtpjitterbuffer latency=60 ! rtpopusdepay ! opusdec ! ` +
          `audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! filesink location=${out}`,
      );
    },
    stop: () => undefined,
    stats: () => null,
  };
  t.teardown(() => gst?.child.kill('SIGKILL'));

  const caller = await securedServices('Caller', callAudio, t);
  const callee = await securedServices('Callee', gstMedia, t);
  caller.services.directory.addCandidate({ host: '127.0.0.1', port: callee.httpPort, source: 'static' });
  callee.services.directory.addCandidate({ host: '127.0.0.1', port: caller.httpPort, source: 'static' });
  await Promise.all([caller.services.directory.refresh(), callee.services.directory.refresh()]);
  await caller.services.users.add('Kitchen');
  await callee.services.users.add('Front door');
  await caller.services.directory.refresh();

  const call = await caller.services.calls.initiate('Kitchen', 'Front door');
  t.is(call.phase, 'ringing');
  await callee.services.calls.accept(call.id);
  t.truthy(gst, "the callee's media engine was started with the caller's key");
  await gst!.playing;
  await callAudio.whenStarted(call.id);
  // Asked again for a live call, the engine names the same endpoint: its own sending key for this call.
  const engineKey = parseKeys(callAudio.prepare(call.id).crypto?.keyParams);

  // Two seconds of the tone, at the sound card's pace.
  let frame = 0;
  backend.setCaptureSource(() => toneFrame(frame++));
  for (let i = 0; i < 100; i += 1) {
    backend.tick(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  caller.services.calls.end(call.id);
  gst!.child.kill('SIGINT');
  t.is((await gst!.exited).code, 0, gst!.output());
  const decoded = samplesFromS16le(await readFile(out));
  t.true(decoded.length >= 48_000, `decoded ${decoded.length / 48} ms of 2000 ms sent`);
  const middle = decoded.subarray(decoded.length / 4, (decoded.length * 3) / 4);
  t.true(toneShare(middle, 440) > 0.9, `440 Hz share ${toneShare(middle, 440)}`);
  // The key that decoded it is the one the caller's engine made for this call, which crossed sealed.
  t.is(gstKey(handedKey!), gstKey(engineKey));
});

function parseKeys(keyParams: unknown): SrtpMasterKeys {
  const parsed = parseSrtpKeyParams(keyParams);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.keys;
}
