import test from 'ava';
import { launchSite, TEST_SITE_SECRET, type UnitProcess } from '../support/unit-process.js';
import { eventually } from '../support/eventually.js';
import { createSrtpContext, generateSrtpMasterKeys, formatSrtpKeyParams } from '../../src/media/srtp.js';
import { serializeRtp } from '../../src/media/rtp-packet.js';
import { startWiretap, tcpStreams, httpMessages } from './support/wiretap.js';
import { decryptable, keyCandidates, keysFromSiteSecret, srtpStreams } from './support/eavesdropper.js';

// Someone on the LAN records every byte two units exchange while they call each other (the
// discovery polls, the offer, the accept exchange, the hang-up and all the media), and learns the
// site secret later (a unit's SD card, a careless backup). Before: the accept exchange carried
// both sides' SRTP keys in plain JSON, and the recording decrypted. Now each call is keyed with an
// ephemeral X25519 exchange: the recording plus the secret decrypt nothing, and no log helps either.

const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase ?? 'idle';

test.serial('a recording of a whole call, with the site secret learnt later, cannot be decrypted; nor can the logs help', async (t) => {
  t.timeout(180_000);
  const [a, b] = await launchSite(t, [
    { name: 'A', config: { discovery: { pollIntervalMs: 250, offlineAfterMs: 3000, requestTimeoutMs: 5000 } }, readyTimeoutMs: 90_000 },
    { name: 'B', config: { discovery: { pollIntervalMs: 250, offlineAfterMs: 3000, requestTimeoutMs: 5000 } }, readyTimeoutMs: 90_000 },
  ]);
  const tap = await startWiretap(t, [a.httpPort, b.httpPort, a.udpPort, b.udpPort]);

  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  await eventually('A to see B\'s user', async () =>
    ((await a.api('GET', '/api/users')).body.users as { name: string; online: boolean }[]).some((user) => user.name === 'Front door' && user.online),
  );
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => (await phase(b)) === 'ringing');
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  await eventually('both active', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active');
  // Without sound cards the units send silence, 50 packets a second each way: let both streams run.
  await eventually('media both ways', async () => {
    const [onA, onB] = await Promise.all([a, b].map(async (unit) => (await unit.api('GET', '/api/calls')).body.current?.stats?.packetsReceived ?? 0));
    return onA > 100 && onB > 100;
  }, 20_000);
  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await phase(a)) === 'idle' && (await phase(b)) === 'idle');
  const recorded = await tap.stop();

  // What the eavesdropper has: the media, and every HTTP message, as text.
  const media = srtpStreams(recorded.filter((packet) => packet.proto === 'udp' && [a.udpPort, b.udpPort].includes(packet.dport)).map((packet) => packet.payload));
  const streams = tcpStreams(recorded);
  const text = streams.map((stream) => stream.data.toString('latin1')).join('\n');
  const logs = [a, b].map((unit) => `${unit.logs.map((line) => JSON.stringify(line)).join('\n')}\n${unit.stderr()}`).join('\n');

  // The eavesdropper's tools work: a packet protected under a key written as SDES parameters opens.
  const known = generateSrtpMasterKeys();
  const probe = createSrtpContext(known).protect(serializeRtp({ payloadType: 111, sequence: 7, timestamp: 0, ssrc: 99, marker: false, payload: Buffer.from('x') }));
  t.is(decryptable([{ ssrc: 99, packets: [probe] }], keyCandidates(`"keyParams":"${formatSrtpKeyParams(known)}"`)), 1, 'the tools open what they should');

  const fromRecording = keyCandidates(text);
  const fromSecret = keysFromSiteSecret(text, TEST_SITE_SECRET);
  const fromLogs = keyCandidates(logs);
  t.log(`recorded ${recorded.length} packets: ${media.map((stream) => `${stream.packets.length} SRTP packets of SSRC ${stream.ssrc}`).join(', ')}, ${streams.length} TCP streams (${text.length} bytes)`);
  t.log(`tried ${fromRecording.length} keys from the recording, ${fromSecret.length} from the site secret with it, ${fromLogs.length} from the logs`);
  t.is(decryptable(media, fromRecording), 0, 'no key in the recording opens the call');
  t.is(decryptable(media, fromSecret), 0, 'the site secret with the recording opens nothing');
  t.is(decryptable(media, fromLogs), 0, 'no key in the logs opens the call');
  t.false(/keyParams|inline:/.test(logs), 'key material never reaches the logs');

  // And the recording is complete: both media streams, and the key exchange itself.
  t.is(media.length, 2, 'both directions of the call were recorded');
  t.true(media.every((stream) => stream.packets.length > 100));
  const messages = streams.flatMap((stream) => httpMessages(stream.data));
  const offer = messages.find((message) => message.startLine.startsWith('POST /api/unit/calls '));
  const accept = messages.find((message) => message.startLine.startsWith(`POST /api/unit/calls/${callId}/accept `));
  t.truthy(offer && accept, 'the offer and the accept exchange were recorded');
  t.regex(offer?.body ?? '', /"keyShare":"[A-Za-z0-9_-]{43}"/, "the caller's public value is in the recording");
  t.regex(accept?.body ?? '', /"keyShare":"[A-Za-z0-9_-]{43}".*"wrappedKey":"/, "the callee's public value and sealed keys are in the recording");
});
