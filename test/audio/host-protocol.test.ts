import test from 'ava';
import {
  FrameRechunker,
  RECORD_HEADER_BYTES,
  RecordDecoder,
  RecordKind,
  RecordStreamError,
  bytesToPcm,
  encodeRecord,
  pcmToBytes,
} from '../../src/audio/host-protocol.js';

test('records survive being split and merged at any byte', (t) => {
  const pcm = Int16Array.from({ length: 960 }, (_, index) => index * 31 - 15_000);
  const stream = Buffer.concat([
    encodeRecord(RecordKind.CapturedFrame, pcmToBytes(pcm), 1234.5),
    encodeRecord(RecordKind.PlaybackPull, undefined, 99),
    encodeRecord(RecordKind.CapturedFrame, pcmToBytes(pcm.subarray(0, 10)), 7),
  ]);
  for (const piece of [1, 3, 17, 1000, stream.length]) {
    const decoder = new RecordDecoder();
    const records = [];
    for (let offset = 0; offset < stream.length; offset += piece) records.push(...decoder.push(stream.subarray(offset, offset + piece)));
    t.deepEqual(
      records.map((record) => [record.kind, record.timestamp, record.payload.length]),
      [
        [RecordKind.CapturedFrame, 1234.5, 1920],
        [RecordKind.PlaybackPull, 99, 0],
        [RecordKind.CapturedFrame, 7, 20],
      ],
    );
    t.deepEqual(bytesToPcm(records[0].payload), pcm);
  }
});

test('a corrupt stream is an error, not a guess', (t) => {
  const bad = Buffer.alloc(RECORD_HEADER_BYTES);
  bad.writeUInt8(9, 0);
  t.throws(() => new RecordDecoder().push(bad), { instanceOf: RecordStreamError });
  const huge = encodeRecord(RecordKind.CapturedFrame);
  huge.writeUInt32LE(1 << 30, 4);
  t.throws(() => new RecordDecoder().push(huge), { instanceOf: RecordStreamError });
});

test('bytesToPcm copies from unaligned offsets', (t) => {
  const bytes = Buffer.from([0xff, 0x01, 0x00, 0xff, 0x7f]);
  t.deepEqual(bytesToPcm(bytes.subarray(1)), Int16Array.from([1, 0x7fff]));
});

test('the rechunker emits exactly frame-sized chunks in order and keeps the remainder', (t) => {
  const rechunker = new FrameRechunker(6);
  const frames: number[][] = [];
  const input = Uint8Array.from({ length: 20 }, (_, index) => index);
  rechunker.push(input.subarray(0, 4), (frame) => frames.push([...frame]));
  rechunker.push(input.subarray(4, 17), (frame) => frames.push([...frame]));
  t.deepEqual(frames, [
    [0, 1, 2, 3, 4, 5],
    [6, 7, 8, 9, 10, 11],
  ]);
  rechunker.push(input.subarray(17), (frame) => frames.push([...frame]));
  t.deepEqual(frames[2], [12, 13, 14, 15, 16, 17]);
  t.is(frames.length, 3);
});
