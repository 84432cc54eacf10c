import test from 'ava';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fc from 'fast-check';
import { launchSite, type UnitProcess } from '../support/unit-process.js';
import { badDatagramArbitrary, bulkBytesArbitrary, fuzzSeed, materialize } from '../support/fuzz-datagrams.js';
import { MIB, residentBytes, udpReceiveDrops } from '../support/fuzz-memory.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { packetFormatFor } from '../../src/media/wire-format.js';
import { srtpPacketFormat, generateSrtpMasterKeys } from '../../src/media/srtp.js';
import { opusCodec } from '../../src/codec/opus.js';
import { eventually } from '../support/eventually.js';

// Two real unit processes (src/main.ts, as systemd runs it; no sound card, so each sends silence
// on its frame clock) and a flood of random and mutated datagrams at one unit's audio port, first
// outside a call, then during one. Reproduce with FUZZ_SEED=<seed>.

/** Bad datagrams per phase (plus BIG_PER_PHASE large ones), sent at about DATAGRAMS_PER_SECOND. */
const DATAGRAMS_PER_PHASE = 8000;
/**
 * Large datagrams (40 KiB to the UDP maximum) per phase: about 50 MiB, so a unit that kept what it was sent would
 * show it in its resident memory far above the noise of its heap growing and shrinking.
 */
const BIG_PER_PHASE = 1000;
/** The most an IPv4 UDP datagram can carry. */
const MAX_UDP_PAYLOAD = 65_507;
const DATAGRAMS_PER_SECOND = 2500;
/** Bytes sent per 5 ms at most, well within a socket's default receive buffer (208 KiB). */
const BURST_BYTES = 96 * 1024;
const BURST_INTERVAL_MS = 5;
/** /api/health must answer within this while the flood goes on (generous: CI machines are shared). */
const HEALTH_LATENCY_LIMIT_MS = 2000;
/**
 * Resident memory the unit may gain across both floods (about 120 MiB sent), after a warm-up flood
 * (about 30 MiB) has grown its heap and allocator to their working size. A unit that kept what it
 * was sent would grow by about what it was sent.
 */
const RSS_GROWTH_LIMIT = 32 * MIB;
const BIG_IN_WARM_UP = 600;


/** Well-formed SRTP (under keys nobody else has) and plain RTP packets, to mutate. */
function samplePackets(): Uint8Array[] {
  const frame = new Int16Array(960).map((_, i) => Math.round(6000 * Math.sin(i / 7)));
  const packets: Uint8Array[] = [];
  for (const format of [srtpPacketFormat(packetFormatFor('rtp-opus', 960), generateSrtpMasterKeys()), packetFormatFor('rtp-opus', 960)]) {
    const sender = new MediaSender({
      encoder: opusCodec.createEncoder({ frameSamples: 960, bitrate: 32_000, complexity: 2 }),
      packetFormat: format,
      frameSamples: 960,
      ssrc: 0xfeed,
      initialSequence: 1,
      initialTimestamp: 0,
    });
    for (let i = 0; i < 50; i++) packets.push(Uint8Array.from(sender.sendFrame(frame)));
    sender.close();
  }
  return packets;
}

interface Flood {
  sent: number;
  bytes: number;
  healthChecks: number;
  slowestHealthMs: number;
}

/**
 * Sends `count` bad datagrams to `port`, paced so loopback does not drop them, while /api/health
 * is asked every 100 ms; resolves when all are sent and the last health answer is in.
 */
async function flood(unit: UnitProcess, port: number, datagrams: Uint8Array[]): Promise<Flood> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const result: Flood = { sent: 0, bytes: 0, healthChecks: 0, slowestHealthMs: 0 };
  let flooding = true;
  const healthProbe = (async () => {
    while (flooding) {
      const started = performance.now();
      const { status } = await unit.api('GET', '/api/health');
      if (status !== 200) throw new Error(`/api/health answered ${status} during the flood`);
      result.healthChecks++;
      result.slowestHealthMs = Math.max(result.slowestHealthMs, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    let burst = 0;
    let burstCount = 0;
    const perBurst = (DATAGRAMS_PER_SECOND * BURST_INTERVAL_MS) / 1000;
    const sends: Promise<void>[] = [];
    for (const datagram of datagrams) {
      if (burst + datagram.length > BURST_BYTES || burstCount >= perBurst) {
        await Promise.all(sends.splice(0));
        await new Promise((resolve) => setTimeout(resolve, BURST_INTERVAL_MS));
        burst = 0;
        burstCount = 0;
      }
      burstCount++;
      sends.push(new Promise<void>((resolve, reject) => socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve()))));
      burst += datagram.length;
      result.sent++;
      result.bytes += datagram.length;
    }
    await Promise.all(sends);
  } finally {
    flooding = false;
    await healthProbe;
    socket.close();
  }
  return result;
}

test.serial('a live unit flooded with bad datagrams, outside a call and in one, stays up, answers, keeps memory flat and keeps the call playing', async (t) => {
  const seed = fuzzSeed();
  t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
  const base = samplePackets();
  const mixed = fc.sample(badDatagramArbitrary, { seed, numRuns: 2 * DATAGRAMS_PER_PHASE + 1000 }).map((entry) => materialize(entry, base).subarray(0, MAX_UDP_PAYLOAD));
  const big = fc.sample(bulkBytesArbitrary(40 * 1024, MAX_UDP_PAYLOAD), { seed: seed + 1, numRuns: 2 * BIG_PER_PHASE + BIG_IN_WARM_UP });
  // The big ones spread evenly through each phase.
  const phase = (datagrams: Uint8Array[], large: Uint8Array[]) => {
    const every = Math.max(1, Math.floor(datagrams.length / large.length));
    return datagrams.flatMap((datagram, index) => (index % every === 0 && large[index / every] ? [datagram, large[index / every]] : [datagram]));
  };
  const warmUp = phase(mixed.slice(0, 1000), big.slice(0, BIG_IN_WARM_UP));
  const outsideCall = phase(mixed.slice(1000, 1000 + DATAGRAMS_PER_PHASE), big.slice(BIG_IN_WARM_UP, BIG_IN_WARM_UP + BIG_PER_PHASE));
  const inCall = phase(mixed.slice(1000 + DATAGRAMS_PER_PHASE), big.slice(BIG_IN_WARM_UP + BIG_PER_PHASE));

  const [a, b] = await launchSite(t, [{ name: 'A' }, { name: 'B' }]);
  t.is((await a.api('POST', '/api/users/register', { name: 'Kitchen' })).status, 201);
  t.is((await b.api('POST', '/api/users/register', { name: 'Front door' })).status, 201);
  await eventually('A to see Front door', async () => (await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online));

  // Outside a call.
  await flood(b, b.udpPort, warmUp);
  const rssBefore = await residentBytes(b.child.pid!);
  const outside = await flood(b, b.udpPort, outsideCall);
  const rssOutside = await residentBytes(b.child.pid!);
  t.log(`outside a call: ${outside.sent} datagrams (${(outside.bytes / MIB).toFixed(1)} MiB), /api/health answered ${outside.healthChecks} times, slowest ${outside.slowestHealthMs.toFixed(0)} ms`);
  t.true(outside.slowestHealthMs < HEALTH_LATENCY_LIMIT_MS);
  t.is(b.child.exitCode, null, 'B is still running');

  // In a call.
  const initiated = await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' });
  t.is(initiated.status, 200, JSON.stringify(initiated.body));
  const callId: string = initiated.body.call.id;
  await eventually('B to ring', async () => (await b.api('GET', `/api/signal/incoming?user=${encodeURIComponent('Front door')}`)).body.calls.length > 0);
  t.is((await b.api('POST', '/api/signal/accept', { callId })).status, 200);
  const statsOf = async (unit: UnitProcess) => (await unit.api('GET', `/api/calls/${callId}`)).body.call;
  const before = await eventually('audio from A at B', async () => {
    const call = await statsOf(b);
    return call.phase === 'active' && call.stats?.packetsReceived > 10 && call;
  });
  const sentBefore = (await statsOf(a)).stats.packetsSent;
  const dropsBefore = await udpReceiveDrops(b.udpPort);
  const startedAt = performance.now();
  const during = await flood(b, b.udpPort, inCall);
  const elapsedS = (performance.now() - startedAt) / 1000;
  const after = await statsOf(b);
  const sentByA = (await statsOf(a)).stats.packetsSent - sentBefore;
  const dropped = (await udpReceiveDrops(b.udpPort)) - dropsBefore;
  t.log(`in a call: ${during.sent} datagrams (${(during.bytes / MIB).toFixed(1)} MiB) in ${elapsedS.toFixed(1)} s, /api/health answered ${during.healthChecks} times, slowest ${during.slowestHealthMs.toFixed(0)} ms`);
  t.log(`B's call stats before ${JSON.stringify(before.stats)}\nafter ${JSON.stringify(after.stats)}`);
  t.true(during.slowestHealthMs < HEALTH_LATENCY_LIMIT_MS);
  t.is(after.phase, 'active', 'the call goes on');
  t.is((await statsOf(a)).phase, 'active');
  const malformed = after.stats.packetsMalformed - before.stats.packetsMalformed;
  const received = after.stats.packetsReceived - before.stats.packetsReceived;
  const lost = after.stats.packetsLost - before.stats.packetsLost;
  t.log(`the kernel dropped ${dropped} datagrams at B's socket (receive buffer full)`);
  // Every datagram the socket delivered is either A's (received) or bad (malformed); drops may hit either.
  t.true(malformed <= during.sent && malformed >= during.sent - dropped, `${malformed} of ${during.sent} counted as malformed, ${dropped} dropped by the kernel`);
  // The call keeps playing: A went on sending (50 packets a second) and B took what arrived.
  t.true(sentByA >= 0.5 * 50 * elapsedS, `A sent ${sentByA} packets in ${elapsedS.toFixed(1)} s`);
  t.true(received >= sentByA - dropped - 10, `B took ${received} of the ${sentByA} packets A sent meanwhile (${dropped} datagrams dropped by the kernel)`);
  t.true(lost <= 0.1 * received + dropped, `lost ${lost} of ${received}`);

  const rssAfter = await residentBytes(b.child.pid!);
  t.log(`B's resident memory: ${(rssBefore / MIB).toFixed(1)} MiB after the warm-up, ${(rssOutside / MIB).toFixed(1)} MiB after the flood outside a call, ${(rssAfter / MIB).toFixed(1)} MiB after the one in a call (${outside.sent + during.sent} datagrams, ${((outside.bytes + during.bytes) / MIB).toFixed(0)} MiB)`);
  t.true(rssAfter - rssBefore < RSS_GROWTH_LIMIT, `resident memory grew by ${((rssAfter - rssBefore) / MIB).toFixed(1)} MiB`);

  t.is((await a.api('POST', '/api/signal/end', { callId })).status, 200);
  await eventually('both idle', async () => (await statsOf(a)).phase === 'ended' && (await statsOf(b)).phase === 'ended');
  t.like(await statsOf(b), { endReason: 'hung-up' });
  t.is((await b.api('GET', '/api/health')).status, 200);
});
