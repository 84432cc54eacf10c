import test from 'ava';
import { l16Codec } from '../../src/codec/l16.js';
import { MediaReceiver } from '../../src/media/media-receiver.js';
import { MediaSender } from '../../src/media/media-sender.js';
import { rtpPacketFormat, seedPacketFormat } from '../../src/media/packet-format.js';
import { serializeRtp } from '../../src/media/rtp-packet.js';
import {
  SRTP_AUTH_TAG_BYTES,
  aesCmKeystream,
  deriveSrtpKey,
  deriveSrtpSessionKeys,
  srtpAuthTag,
  srtpPacketIv,
} from '../../src/media/srtp-crypto.js';
import {
  createSrtpContext,
  formatSrtpKeyParams,
  generateSrtpKeyParams,
  generateSrtpMasterKeys,
  parseSrtpKeyParams,
  srtpPacketFormat,
  type SrtpMasterKeys,
} from '../../src/media/srtp.js';
import { FRAME_SAMPLES, runVirtualCall, seededRandom, tone } from '../support/media-simulation.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3's master key and salt; libsrtp's own test driver uses them too.
const rfcKeys: SrtpMasterKeys = { masterKey: hex('E1F97A0D3E018BE0D64FA32C06DE4139'), masterSalt: hex('0EC675AD498AFEEBB6960B3AABE6') };

function rtp(sequence: number, payload: Uint8Array, ssrc = 0xcafebabe, timestamp = sequence * 960): Buffer {
  return serializeRtp({ ssrc, sequence, timestamp, payloadType: 111, marker: false, payload });
}

function randomPayload(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

test('RFC 3711 B.2: the AES-CM keystream from the session salt, SSRC 0 and index 0', (t) => {
  const iv = srtpPacketIv(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'), 0, 0);
  t.is(iv.toString('hex').toUpperCase(), 'F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
  // The RFC's keystream segment is 65282 blocks long and lists its first and last three.
  const keystream = aesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'), iv, 1_044_512);
  const block = (counter: number) => keystream.subarray(counter * 16, counter * 16 + 16).toString('hex').toUpperCase();
  t.is(block(0x0000), 'E03EAD0935C95E80E166B16DD92B4EB4');
  t.is(block(0x0001), 'D23513162B02D0F72A43A2FE4A5F97AB');
  t.is(block(0x0002), '41E95B3BB0A2E8DD477901E4FCA894C0');
  t.is(block(0xfeff), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
  t.is(block(0xff00), '362B7C3C6773516318A077D7FC5073AE');
  t.is(block(0xff01), '6A2CC3787889374FBEB4C81B17BA6C44');
});

test('RFC 3711 B.3: key derivation of cipher key, cipher salt and the 94-octet auth key', (t) => {
  const { masterKey, masterSalt } = rfcKeys;
  t.is(deriveSrtpKey(masterKey, masterSalt, 0x00, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  // The RFC shows the whole output block, of which the salt is the first 14 octets.
  t.is(deriveSrtpKey(masterKey, masterSalt, 0x02, 16).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE17AC6');
  t.is(
    deriveSrtpKey(masterKey, masterSalt, 0x01, 94).toString('hex').toUpperCase(),
    'CEBE321F6FF7716B6FD4AB49AF256A15' +
      '6D38BAA48F0A0ACF3C34E2359E6CDBCE' +
      'E049646C43D9327AD175578EF7227098' +
      '6371C10C9A369AC2F94A8C5FBCDDDC25' +
      '6D6E919A48B610EF17C2041E47403576' +
      '6B68642C59BBFC2F34DB60DBDFB2',
  );
  const session = deriveSrtpSessionKeys(masterKey, masterSalt);
  t.is(session.encryptionKey.toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  t.is(session.salt.toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
  t.is(session.authenticationKey.toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
});

test("libsrtp's reference packet: our protect gives its exact ciphertext and tag, and unprotect reverses it", (t) => {
  const plain = hex('800f1234decafbad cafebabe abababab abababababababab abababab');
  const protectedPacket = hex('800f1234decafbad cafebabe 4e55dc4c e79978d88ca4d215 949d2402 b78d6acc99ea179b8dbb');
  t.deepEqual(createSrtpContext(rfcKeys).protect(plain), protectedPacket);
  const unprotected = createSrtpContext(rfcKeys).unprotect(protectedPacket);
  t.true(unprotected.ok);
  if (unprotected.ok) {
    t.deepEqual(unprotected.packet, plain);
    t.is(unprotected.index, 0x1234);
  }
});

test('protect then unprotect returns every packet unchanged, including CSRCs, an extension and padding', (t) => {
  const keys = generateSrtpMasterKeys();
  const sender = createSrtpContext(keys);
  const receiver = createSrtpContext(keys);
  const random = seededRandom(5);
  for (let sequence = 100; sequence < 400; sequence++) {
    const packet = rtp(sequence, randomPayload(random, Math.floor(random() * 300)));
    const protectedPacket = sender.protect(packet);
    t.is(protectedPacket.byteLength, packet.byteLength + SRTP_AUTH_TAG_BYTES);
    t.deepEqual(protectedPacket.subarray(0, 12), packet.subarray(0, 12), 'the header stays in the clear');
    if (packet.byteLength > 28) t.notDeepEqual(protectedPacket.subarray(12, 28), packet.subarray(12, 28), 'the payload is encrypted');
    const result = receiver.unprotect(protectedPacket);
    t.true(result.ok && result.packet.equals(packet), `sequence ${sequence}`);
  }
  // V=2, P=1, X=1, CC=2; two CSRCs; a one-word extension; 3 payload octets; 4 padding octets.
  const elaborate = hex('b2 6f 0001 00000960 01020304 0a0b0c0d 0e0f1011 bede0001 11223344 aabbcc 00000004');
  const result = receiver.unprotect(sender.protect(elaborate));
  t.true(result.ok && result.packet.equals(elaborate));
  const ciphertext = sender.protect(hex('b2 6f 0002 00000960 01020304 0a0b0c0d 0e0f1011 bede0001 11223344 aabbcc 00000004'));
  t.deepEqual(ciphertext.subarray(0, 28), elaborate.subarray(0, 28).fill(0x02, 3, 4), 'CSRCs and extension stay in the clear');
});

test('flipping any single bit of the header, payload or tag makes the packet fail, and the original still passes', (t) => {
  const sender = createSrtpContext(rfcKeys);
  const receiver = createSrtpContext(rfcKeys);
  // Establish the stream first so that header flips hit authentication, not only version checks.
  t.true(receiver.unprotect(sender.protect(rtp(999, new Uint8Array(40).fill(1)))).ok);
  const original = sender.protect(rtp(1000, randomPayload(seededRandom(9), 40)));
  let rejected = 0;
  for (let bit = 0; bit < original.byteLength * 8; bit++) {
    const tampered = Buffer.from(original);
    tampered[bit >> 3] ^= 0x80 >> (bit & 7);
    const result = receiver.unprotect(tampered);
    if (!result.ok) rejected++;
    else t.fail(`bit ${bit} flipped was accepted`);
  }
  t.is(rejected, original.byteLength * 8);
  t.true(receiver.unprotect(original).ok, 'failed forgeries leave no trace in the replay state');
  // Truncation and extension are tampering too.
  t.false(receiver.unprotect(original.subarray(0, original.byteLength - 1)).ok);
  t.false(receiver.unprotect(Buffer.concat([original, Buffer.from([0])])).ok);
});

test('a replayed packet is rejected; reordering within the window is accepted; older than the window is rejected', (t) => {
  const keys = generateSrtpMasterKeys();
  const sender = createSrtpContext(keys);
  const receiver = createSrtpContext(keys, { replayWindow: 128 });
  const packets = Array.from({ length: 500 }, (_, i) => sender.protect(rtp(i, new Uint8Array([i & 0xff, i >> 8]))));

  const first = receiver.unprotect(packets[0]);
  t.true(first.ok);
  const replay = receiver.unprotect(packets[0]);
  t.false(replay.ok);
  t.regex(replay.ok ? '' : replay.reason, /replayed/);

  // Shuffle packets 1..299 inside blocks of 100: arrivals up to 99 packets behind the newest.
  const random = seededRandom(4);
  for (let block = 1; block < 300; block += 100) {
    const order = Array.from({ length: Math.min(100, 300 - block) }, (_, i) => block + i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order) {
      const result = receiver.unprotect(packets[i]);
      t.true(result.ok && result.index === i, `packet ${i}`);
    }
  }
  for (const i of [150, 299, 200]) t.false(receiver.unprotect(packets[i]).ok, `replay of ${i}`);

  // Jump ahead to 499, 200 packets: one packet alone does not move the window that far (it would
  // refuse the stream's next packets), three in a row do. Then unseen 372 is 127 behind (inside
  // the window), unseen 371 is 128 behind.
  const held = receiver.unprotect(packets[497]);
  t.false(held.ok);
  t.regex(held.ok ? '' : held.reason, /jumps 198 packets ahead/);
  t.true(receiver.unprotect(packets[300]).ok, 'the stream goes on meanwhile');
  t.false(receiver.unprotect(packets[498]).ok);
  t.true(receiver.unprotect(packets[499]).ok);
  t.true(receiver.unprotect(packets[372]).ok);
  const tooOld = receiver.unprotect(packets[371]);
  t.false(tooOld.ok);
  t.regex(tooOld.ok ? '' : tooOld.reason, /too-old/);
});

test('the rollover counter advances across 65535 -> 0 on both sides, also when packets around the wrap arrive out of order', (t) => {
  const keys = generateSrtpMasterKeys();
  const sender = createSrtpContext(keys);
  const receiver = createSrtpContext(keys);
  const session = deriveSrtpSessionKeys(keys.masterKey, keys.masterSalt);
  // 3 x 2^16 + 500 packets: three wraps, starting a little before the first.
  const start = 65_000;
  const count = 3 * 65_536 + 500;
  const pending: Buffer[] = [];
  let accepted = 0;
  for (let n = 0; n < count; n++) {
    const sequence = (start + n) & 0xffff;
    const packet = sender.protect(rtp(sequence, new Uint8Array([n & 0xff])));
    const index = start + n;
    if (sequence === 5) {
      // The tag covers the ROC the sender used: check it against an independently computed one.
      const expectedTag = srtpAuthTag(session.authenticationKey, packet.subarray(0, packet.byteLength - 10), Math.floor(index / 65_536));
      t.deepEqual(packet.subarray(packet.byteLength - 10), expectedTag, `ROC ${Math.floor(index / 65_536)} at index ${index}`);
    }
    // Around each wrap, deliver in reverse pairs, so 65535 arrives after 0.
    pending.push(packet);
    if (pending.length === 2 || sequence > 10 && sequence < 65_530) {
      for (const datagram of pending.reverse()) {
        const result = receiver.unprotect(datagram);
        if (result.ok) accepted++;
        else t.fail(`index ${index}: ${result.reason}`);
      }
      pending.length = 0;
    }
  }
  t.is(accepted + pending.length, count);
  // A stale copy of a packet from before the wrap is a replay, not a new packet of the next cycle.
  const staleSender = createSrtpContext(keys);
  t.false(receiver.unprotect(staleSender.protect(rtp(65_000, new Uint8Array([0])))).ok);
});

test('a receiver whose first packets were lost just before the wrap still follows the stream (ROC 1 from the start)', (t) => {
  const keys = generateSrtpMasterKeys();
  const sender = createSrtpContext(keys);
  const packets = Array.from({ length: 40 }, (_, n) => sender.protect(rtp((65_530 + n) & 0xffff, new Uint8Array([n]))));
  // The first six (65530..65535) never arrive; the first one seen is sequence 0 under ROC 1.
  const receiver = createSrtpContext(keys);
  for (let n = 6; n < 40; n++) {
    const result = receiver.unprotect(packets[n]);
    t.true(result.ok && result.index === 65_530 + n, `packet ${n}`);
  }
  // Late arrivals from before the wrap are still placed correctly (ROC 0).
  const late = receiver.unprotect(packets[5]);
  t.true(late.ok && late.index === 65_535);
  // A fresh stream at a small sequence number is still taken as ROC 0.
  const fresh = createSrtpContext(keys).unprotect(createSrtpContext(keys).protect(rtp(7, new Uint8Array([1]), 0x1234)));
  t.true(fresh.ok && fresh.index === 7);
});

test('packets under another key, or garbage of any shape, are rejected without throwing', (t) => {
  const sender = createSrtpContext(generateSrtpMasterKeys());
  const receiver = createSrtpContext(generateSrtpMasterKeys());
  for (let sequence = 0; sequence < 50; sequence++) {
    const result = receiver.unprotect(sender.protect(rtp(sequence, new Uint8Array(60))));
    t.false(result.ok);
    t.regex(result.ok ? '' : result.reason, /authentication failed/);
  }
  const random = seededRandom(12);
  for (let i = 0; i < 5000; i++) {
    const datagram = randomPayload(random, Math.floor(random() * 120));
    if (i % 2 === 0 && datagram.byteLength > 0) datagram[0] = 0x80 | (datagram[0] & 0x3f); // mostly valid RTP headers
    t.false(receiver.unprotect(datagram).ok);
  }
  t.false(receiver.unprotect(new Uint8Array(0)).ok);
  t.throws(() => sender.protect(hex('40 00 0001')), { instanceOf: RangeError });
});

test('SDES key parameters: fresh, 30 octets, and read back; anything else is refused with a reason', (t) => {
  const params = generateSrtpKeyParams();
  t.regex(params, /^inline:[A-Za-z0-9+/]{40}$/);
  t.not(generateSrtpKeyParams(), params);
  const parsed = parseSrtpKeyParams(params);
  t.true(parsed.ok);
  if (parsed.ok) {
    t.is(parsed.keys.masterKey.byteLength, 16);
    t.is(parsed.keys.masterSalt.byteLength, 14);
    t.is(formatSrtpKeyParams(parsed.keys), params);
  }
  t.deepEqual(formatSrtpKeyParams(rfcKeys), `inline:${Buffer.concat([rfcKeys.masterKey, rfcKeys.masterSalt]).toString('base64')}`);
  for (const bad of [params + '|2^31', params + '|1:4', params.slice(0, -1), params.replace('inline:', 'inline: '), 'inline:', '', 42, null, undefined, { keyParams: params }]) {
    const result = parseSrtpKeyParams(bad);
    t.false(result.ok, String(bad));
  }
});

test('MediaSender and MediaReceiver carry audio over the SRTP format unchanged; a receiver with the wrong key counts malformed', (t) => {
  const keys = generateSrtpMasterKeys();
  const codecOptions = { frameSamples: FRAME_SAMPLES, bitrate: 0 };
  const sender = new MediaSender({
    encoder: l16Codec.createEncoder(codecOptions),
    packetFormat: srtpPacketFormat(rtpPacketFormat(96), keys),
    frameSamples: FRAME_SAMPLES,
    ssrc: 0x5eed,
    initialSequence: 65_500, // crosses the sequence wrap mid-stream
    initialTimestamp: 4_000_000_000,
  });
  const receiver = (packetKeys: SrtpMasterKeys) =>
    new MediaReceiver({ decoder: l16Codec.createDecoder(codecOptions), packetFormat: srtpPacketFormat(rtpPacketFormat(96), packetKeys), frameSamples: FRAME_SAMPLES, minMs: 20, maxMs: 400 });
  const right = receiver(keys);
  const wrong = receiver(generateSrtpMasterKeys());
  const frames = 150;
  const sent = tone(frames * FRAME_SAMPLES, 12_000, 440, 77);
  const datagrams = Array.from({ length: frames }, (_, i) => sender.sendFrame(sent.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)));
  const played: number[] = [];
  runVirtualCall({
    frames,
    network: (_frame, sendMs) => [sendMs + 3],
    deliver: (frame, arrivalMs) => {
      right.receiveDatagram(datagrams[frame], arrivalMs);
      wrong.receiveDatagram(datagrams[frame], arrivalMs);
    },
    read: (nowMs) => {
      played.push(...right.readFrame(nowMs));
      wrong.readFrame(nowMs);
    },
  });
  const start = played.findIndex((sample) => sample !== 0);
  t.true(start > 0);
  t.deepEqual(Int16Array.from(played.slice(start, start + sent.length)), sent);
  t.like(right.stats(), { packetsReceived: frames, packetsLost: 0, packetsMalformed: 0 });
  t.like(wrong.stats(), { packetsReceived: 0, packetsMalformed: frames });
  t.throws(() => srtpPacketFormat(seedPacketFormat(FRAME_SAMPLES), keys), { instanceOf: RangeError });
});
