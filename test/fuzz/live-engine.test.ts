import test from 'ava';
import fc from 'fast-check';
import { pino } from 'pino';
import type { WireFormatName } from '../../src/config/schema.js';
import { CallAudio, type CallAudioSettings } from '../../src/streaming/call-audio.js';
import { UdpTransport } from '../../src/net/udp-transport.js';
import { MemoryAudioBackend } from '../../src/audio/memory-backend.js';
import type { MediaEndpoint } from '../../src/calls/call-media.js';
import { toneShare } from '../support/audio-analysis.js';
import { badDatagramArbitrary, fuzzSeed, materialize, rtpVerdict, seedVerdict, type BadDatagram } from '../support/fuzz-datagrams.js';
import { MIB, retainedHeapBytes } from '../support/fuzz-memory.js';

// A unit's media engine (CallAudio on a real UDP socket, the in-memory sound card) under a flood
// of random and mutated datagrams at its audio port, outside a call and during one. The bad
// datagrams come from the peer's own address and are mutations of the peer's real packets, so
// the address filter does not shield the receiver. Reproduce a failure with FUZZ_SEED=<seed>.

const logger = pino({ level: 'silent' });
const FRAME_SAMPLES = 960;
const PEER_TONE_HZ = 500;
const CALL_FRAMES = 250;
const BAD_PER_FRAME = 16;
const OUTSIDE_CALL_DATAGRAMS = 5000;
/** Memory the engine may keep after a collection, beyond its working set, across all the datagrams. */
const HEAP_GROWTH_LIMIT = 4 * MIB;

interface Variant {
  name: string;
  format: WireFormatName;
  srtp: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'rtp-opus under SRTP (the default)', format: 'rtp-opus', srtp: true },
  { name: 'plain rtp-opus', format: 'rtp-opus', srtp: false },
  { name: 'plain rtp-l16', format: 'rtp-l16', srtp: false },
  { name: 'seed', format: 'seed', srtp: false },
];

function tone(frequency: number, frameIndex: number): Int16Array {
  const frame = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * frequency * (frameIndex * FRAME_SAMPLES + i)) / 48_000));
  return frame;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await nextTurn();
  }
}

/** One engine as main.ts wires it, with a count of the datagrams its socket handed over. */
async function engine(variant: Variant, backend: MemoryAudioBackend, now: () => number) {
  const settings: CallAudioSettings = { format: variant.format, frameMs: 20, bitrate: 32_000, complexity: 2, minDelayMs: 20, maxDelayMs: 400, srtp: variant.srtp };
  const audio = new CallAudio({ settings, captureDevice: 'default', playbackDevice: 'default', backend, logger, now });
  let arrived = 0;
  const transport = await UdpTransport.bind({
    port: 0,
    host: '127.0.0.1',
    onDatagram: (datagram, from) => {
      arrived++;
      audio.onDatagram(datagram, from);
    },
  });
  audio.attachTransport(transport);
  await audio.openDevices();
  return {
    audio,
    transport,
    arrived: () => arrived,
    async close() {
      await audio.close();
      await transport.close();
    },
  };
}

for (const variant of VARIANTS) {
  // Serial: the memory figures are the whole process's.
  test.serial(`${variant.name}: a flood of bad datagrams at the audio port, outside a call and in one: counted, never played, memory flat, the call plays on`, async (t) => {
    const seed = fuzzSeed();
    t.log(`seed ${seed} (rerun with FUZZ_SEED=${seed})`);
    const badDatagrams = fc.sample(badDatagramArbitrary, { seed, numRuns: OUTSIDE_CALL_DATAGRAMS * 2 + CALL_FRAMES * BAD_PER_FRAME });
    let nextBad = 0;
    const takeBad = (): BadDatagram => badDatagrams[nextBad++ % badDatagrams.length];

    let nowMs = 0;
    const backendA = new MemoryAudioBackend({ now: () => nowMs });
    const backendB = new MemoryAudioBackend({ now: () => nowMs });
    const a = await engine(variant, backendA, () => nowMs);
    const b = await engine(variant, backendB, () => nowMs);
    // A's packets reach B through this relay, which keeps them to mutate and sends the bad
    // datagrams from the same address, as a peer gone wrong (or a forger on its host) would.
    const fromA: Buffer[] = [];
    const authentic = new Set<string>();
    let relayed = 0;
    const relay = await UdpTransport.bind({
      port: 0,
      host: '127.0.0.1',
      onDatagram: (datagram) => {
        fromA.push(datagram);
        authentic.add(datagram.toString('base64'));
        if (fromA.length > 200) fromA.shift();
        relay.send(datagram, b.transport.localPort, '127.0.0.1');
        relayed++;
      },
    });
    t.teardown(async () => {
      await a.close();
      await b.close();
      await relay.close();
    });

    let sentToB = 0;
    let bytesInFlight = 0;
    /**
     * Sends `count` bad datagrams to B and returns how many of them B must count as malformed.
     * Waits for B whenever 64 KiB are on their way: the kernel drops what overflows a socket's
     * receive buffer, and every datagram must arrive for the counts to be exact.
     */
    const sendBad = async (count: number, peerSsrc: number | null): Promise<number> => {
      let mustReject = 0;
      for (let i = 0; i < count; i++) {
        let datagram = Buffer.from(materialize(takeBad(), fromA));
        // Exact copies of the peer's packets are not bad datagrams (see the receive-path fuzz test).
        if (authentic.has(datagram.toString('base64'))) datagram = Buffer.concat([datagram, Buffer.of(0)]);
        if (peerSsrc !== null && !variant.srtp) {
          // Plain RTP cannot tell a forgery that carries the peer's SSRC from the peer (SRTP can):
          // such datagrams are sent under another SSRC, so the call's audio stays predictable.
          if (variant.format === 'seed' ? seedVerdict(datagram, FRAME_SAMPLES).accepted : joinsAs(datagram, peerSsrc)) {
            datagram = variant.format === 'seed' ? Buffer.concat([datagram, Buffer.of(0)]) : flipSsrc(datagram);
          }
        }
        if (bytesInFlight + datagram.length > 64 * 1024) {
          await until('bad datagrams at B', () => b.arrived() >= relayed + sentToB);
          bytesInFlight = 0;
        }
        relay.send(datagram, b.transport.localPort, '127.0.0.1');
        bytesInFlight += datagram.length;
        sentToB++;
        mustReject++;
      }
      return mustReject;
    };
    const joinsAs = (datagram: Uint8Array, ssrc: number) => {
      const verdict = rtpVerdict(datagram, variant.format === 'rtp-opus' ? 111 : 96);
      return verdict.accepted && verdict.ssrc === ssrc;
    };
    const flipSsrc = (datagram: Buffer) => {
      const copy = Buffer.from(datagram);
      copy[11] ^= 0x01;
      return copy;
    };

    // Real packets to mutate before any call: a first call's worth, then it ends.
    const warmA = a.audio.prepare('warm-up');
    const warmB = b.audio.prepare('warm-up');
    a.audio.start('warm-up', { ...warmB, address: '127.0.0.1', udpPort: relay.localPort });
    b.audio.start('warm-up', { ...warmA, address: '127.0.0.1' });
    await Promise.all([a.audio.whenStarted('warm-up'), b.audio.whenStarted('warm-up')]);
    backendA.setCaptureSource(() => tone(PEER_TONE_HZ, 0));
    backendA.tick(20);
    await until('the warm-up packets', () => fromA.length >= 20);
    a.audio.stop('warm-up');
    b.audio.stop('warm-up');
    await until('the warm-up packets at B', () => b.arrived() >= relayed);

    // Outside a call: nothing to count them in, but nothing may break or reach the speaker.
    const heapBefore = retainedHeapBytes();
    for (let sent = 0; sent < OUTSIDE_CALL_DATAGRAMS; sent += 100) {
      await sendBad(100, null);
      await until('bad datagrams outside a call', () => b.arrived() >= relayed + sentToB);
      backendB.tick();
      nowMs += 20;
    }
    const playedOutside = backendB.played.slice(-OUTSIDE_CALL_DATAGRAMS / 100);
    t.true(playedOutside.every((frame) => frame.pcm.every((sample) => sample === 0)), 'the speaker stays silent outside a call');

    // A call: A speaks a tone; B hears it while bad datagrams keep arriving between A's packets.
    const endpointA = a.audio.prepare('call');
    const endpointB = b.audio.prepare('call');
    a.audio.start('call', { ...endpointB, address: '127.0.0.1', udpPort: relay.localPort } satisfies MediaEndpoint);
    b.audio.start('call', { ...endpointA, address: '127.0.0.1' });
    await Promise.all([a.audio.whenStarted('call'), b.audio.whenStarted('call')]);
    let frame = 0;
    backendA.setCaptureSource(() => tone(PEER_TONE_HZ, frame));
    let mustReject = 0;
    const playedFrom = backendB.played.length;
    for (; frame < CALL_FRAMES; frame++) {
      const received = b.audio.stats('call')!.packetsReceived;
      const relayedBefore = relayed;
      backendA.tick();
      await until(`A's packet ${frame} at B's socket`, () => relayed > relayedBefore && b.arrived() >= relayed + sentToB);
      if (b.audio.stats('call')!.packetsReceived !== received + 1) {
        t.fail(`A's packet ${frame} reached B but B did not take it: ${JSON.stringify(b.audio.stats('call'))}`);
        return;
      }
      mustReject += await sendBad(BAD_PER_FRAME, endpointA.ssrc);
      await until('the bad datagrams at B', () => b.arrived() >= relayed + sentToB);
      backendB.tick();
      nowMs += 20;
    }
    const stats = b.audio.stats('call')!;
    t.log(`${variant.name}: ${sentToB} bad datagrams so far; B's call stats ${JSON.stringify(stats)}`);
    t.is(stats.packetsReceived, CALL_FRAMES, 'every packet of A was taken, nothing else');
    t.is(stats.packetsMalformed, mustReject, 'every bad datagram was counted');
    t.is(stats.packetsLost, 0);
    const heard = Int16Array.from(backendB.played.slice(playedFrom).slice(-50).flatMap((played) => [...played.pcm]));
    t.true(toneShare(heard, PEER_TONE_HZ) > 0.8, `B hears A's tone through the flood (${toneShare(heard, PEER_TONE_HZ).toFixed(3)})`);
    a.audio.stop('call');
    b.audio.stop('call');

    // After the call: more of the same, still nothing played.
    const playedAfter = backendB.played.length;
    for (let sent = 0; sent < OUTSIDE_CALL_DATAGRAMS; sent += 100) {
      await sendBad(100, null);
      await until('bad datagrams after the call', () => b.arrived() >= relayed + sentToB);
      backendB.tick();
      nowMs += 20;
    }
    t.true(backendB.played.slice(playedAfter).every((played) => played.pcm.every((sample) => sample === 0)), 'silence after the call');
    // The played-frame log of the in-memory sound card grows by design; it is not the engine's.
    backendB.played.length = 0;
    backendA.played.length = 0;
    const heapGrowth = retainedHeapBytes() - heapBefore;
    t.log(`${sentToB} bad datagrams in all; retained memory grew by ${(heapGrowth / MIB).toFixed(2)} MiB`);
    t.true(heapGrowth < HEAP_GROWTH_LIMIT, `retained memory grew by ${(heapGrowth / MIB).toFixed(2)} MiB`);
  });
}
