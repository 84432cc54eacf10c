import test from 'ava';
import { DYNAMIC_PAYLOAD_TYPES, parseRtp, serializeRtp } from '../../src/media/rtp-packet.js';
import { L16_PAYLOAD_TYPE, OPUS_PAYLOAD_TYPE, packetFormatFor } from '../../src/media/wire-format.js';
import type { MediaPacket } from '../../src/media/media-packet.js';
import { seededRandom } from '../support/media-simulation.js';

const packet: MediaPacket = {
  ssrc: 0xdeadbeef,
  sequence: 65535,
  timestamp: 0xfffffff0,
  payloadType: 96,
  marker: true,
  payload: Uint8Array.from([1, 2, 3, 4, 5]),
};

function rejected(datagram: Uint8Array, expectedPayloadType: Parameters<typeof parseRtp>[1] = 96): string {
  const result = parseRtp(datagram, expectedPayloadType);
  if (result.ok) throw new Error('expected the datagram to be rejected');
  return result.reason;
}

test('a serialised packet parses back to the same fields', (t) => {
  const datagram = serializeRtp(packet);
  t.is(datagram.length, 12 + 5);
  t.deepEqual([...datagram.subarray(0, 12)], [0x80, 0x80 | 96, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0xde, 0xad, 0xbe, 0xef]);
  const result = parseRtp(datagram, 96);
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.packet, packet);
});

test('the parsed payload is a copy, independent of the datagram buffer', (t) => {
  const datagram = serializeRtp(packet);
  const result = parseRtp(datagram, 96);
  datagram.fill(0);
  t.true(result.ok && result.packet.payload[0] === 1);
});

test('CSRCs, a header extension and padding are skipped', (t) => {
  const header = [0x80 | 0x20 | 0x10 | 2, 96, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1];
  const csrcs = [0, 0, 0, 11, 0, 0, 0, 12];
  const extension = [0xbe, 0xde, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
  const payload = [10, 20, 30];
  const padding = [0, 0, 3];
  const result = parseRtp(Uint8Array.from([...header, ...csrcs, ...extension, ...payload, ...padding]), 96);
  t.true(result.ok);
  if (!result.ok) return;
  t.deepEqual([...result.packet.payload], payload);
  t.is(result.packet.sequence, 7);
  t.is(result.packet.timestamp, 9);
  t.is(result.packet.ssrc, 1);
  t.false(result.packet.marker);
});

test('an empty payload is valid', (t) => {
  const result = parseRtp(serializeRtp({ ...packet, payload: new Uint8Array(0) }), 96);
  t.true(result.ok && result.packet.payload.length === 0);
});

test('truncated datagrams are rejected', (t) => {
  const datagram = serializeRtp(packet);
  for (const length of [0, 1, 11]) t.regex(rejected(datagram.subarray(0, length)), /truncated/);
});

test('a version other than 2 is rejected', (t) => {
  const datagram = serializeRtp(packet);
  for (const version of [0, 1, 3]) {
    datagram[0] = (version << 6) | (datagram[0] & 0x3f);
    t.regex(rejected(datagram), /version/);
  }
});

test('an unexpected payload type is rejected', (t) => {
  t.regex(rejected(serializeRtp(packet), 111), /payload type 96, expected 111/);
});

test('a dynamic range accepts every payload type from 96 to 127 and refuses static and reserved ones', (t) => {
  for (let payloadType = 0; payloadType <= 127; payloadType++) {
    const datagram = serializeRtp({ ...packet, payloadType });
    if (payloadType >= 96) {
      const result = parseRtp(datagram, DYNAMIC_PAYLOAD_TYPES);
      t.true(result.ok && result.packet.payloadType === payloadType, `payload type ${payloadType}`);
    } else {
      t.is(rejected(datagram, DYNAMIC_PAYLOAD_TYPES), `payload type ${payloadType}, expected 96-127`);
    }
  }
});

for (const [format, sentType] of [['rtp-opus', OPUS_PAYLOAD_TYPE], ['rtp-l16', L16_PAYLOAD_TYPE]] as const) {
  test(`${format}: a receiver without signaling takes any dynamic payload type, the signaled one only its own; both send ${sentType}`, (t) => {
    const strict = packetFormatFor(format, 960);
    const lenient = packetFormatFor(format, 960, { anyDynamicPayloadType: true });
    for (const payloadType of [96, 97, 111, 127]) {
      const datagram = serializeRtp({ ...packet, payloadType });
      t.true(lenient.parse(datagram).ok, `lenient, payload type ${payloadType}`);
      t.is(strict.parse(datagram).ok, payloadType === sentType, `strict, payload type ${payloadType}`);
    }
    // Static types (0 PCMU, 8 PCMA, 10/11 L16 at 44.1 kHz) and the RTCP-conflict range stay refused.
    for (const payloadType of [0, 8, 10, 11, 72, 76, 95]) {
      const datagram = serializeRtp({ ...packet, payloadType });
      t.false(lenient.parse(datagram).ok, `lenient, payload type ${payloadType}`);
      t.false(strict.parse(datagram).ok, `strict, payload type ${payloadType}`);
    }
    for (const format of [strict, lenient]) {
      t.is(format.payloadType, sentType);
      t.is(format.serialize({ ...packet, payloadType: 99 })[1] & 0x7f, sentType);
    }
  });
}

test('padding that overruns the packet, or a zero padding count, is rejected', (t) => {
  const datagram = serializeRtp(packet); // 12 + 5 bytes
  datagram[0] |= 0x20;
  datagram[datagram.length - 1] = 6;
  t.regex(rejected(datagram), /padding/);
  datagram[datagram.length - 1] = 0;
  t.regex(rejected(datagram), /padding/);
  datagram[datagram.length - 1] = 5; // exactly the payload: valid, empty
  const result = parseRtp(datagram, 96);
  t.true(result.ok && result.packet.payload.length === 0);
});

test('a CSRC count that overruns the packet is rejected', (t) => {
  const datagram = serializeRtp({ ...packet, payload: new Uint8Array(8) });
  datagram[0] |= 3; // 12 bytes of CSRCs, only 8 present
  t.regex(rejected(datagram), /CSRC/);
  datagram[0] = (datagram[0] & 0xf0) | 2; // exactly fits
  t.true(parseRtp(datagram, 96).ok);
});

test('a header extension that overruns the packet is rejected', (t) => {
  const shortHeader = serializeRtp({ ...packet, payload: new Uint8Array(2) });
  shortHeader[0] |= 0x10;
  t.regex(rejected(shortHeader), /extension/);
  const longExtension = serializeRtp({ ...packet, payload: Uint8Array.from([0xbe, 0xde, 0, 2, 0, 0, 0, 0]) });
  longExtension[0] |= 0x10;
  t.regex(rejected(longExtension), /extension/);
});

test('random bytes never make the parser throw', (t) => {
  const random = seededRandom(7);
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    const datagram = new Uint8Array(Math.floor(random() * 40));
    for (let j = 0; j < datagram.length; j++) datagram[j] = Math.floor(random() * 256);
    if (datagram.length > 1 && random() < 0.5) {
      datagram[0] = 0x80 | (datagram[0] & 0x3f);
      datagram[1] = 96;
    }
    const result = parseRtp(datagram, 96);
    if (result.ok) {
      accepted++;
      t.true(result.packet.payload.length <= datagram.length - 12);
    }
  }
  t.true(accepted > 0);
});

test('serialising an out-of-range payload type throws', (t) => {
  t.throws(() => serializeRtp({ ...packet, payloadType: 128 }), { instanceOf: RangeError });
  t.throws(() => serializeRtp({ ...packet, payloadType: -1 }), { instanceOf: RangeError });
});
