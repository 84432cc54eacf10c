import fc from 'fast-check';

/**
 * Bad datagrams for the receive-path fuzz tests: random bytes, and valid RTP or seed datagrams
 * mutated the ways a broken or hostile sender would (bits flipped, truncated, extended, header
 * fields rewritten). Mutations are plain data, so fast-check can shrink and print them, and
 * `applyMutations` turns them into bytes deterministically.
 *
 * `rtpVerdict` and `seedVerdict` are an independent statement of what the receiver must accept
 * (RFC 3550 section 5.1; the seed format's fixed size), written without the project's parser so
 * the tests can count the datagrams that must be rejected.
 */

export type Mutation =
  | { kind: 'flipBits'; bits: number[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'overwrite'; offset: number; bytes: Uint8Array }
  | { kind: 'version'; version: 0 | 1 | 3 }
  | { kind: 'payloadType'; payloadType: number }
  | { kind: 'marker' }
  | { kind: 'ssrc'; ssrc: number }
  | { kind: 'csrcCount'; count: number }
  | { kind: 'extension'; words: number }
  | { kind: 'padding'; count: number }
  | { kind: 'sequence'; delta: number }
  | { kind: 'timestamp'; delta: number };

export type BadDatagram =
  | { source: 'random'; bytes: Uint8Array }
  /** `base` picks one of the valid datagrams sent so far (modulo their number). */
  | { source: 'mutated'; base: number; mutations: Mutation[] };

const byte = fc.integer({ min: 0, max: 255 });
const smallBytes = fc.uint8Array({ minLength: 1, maxLength: 64 });

/**
 * Large random byte strings, drawn as a length and a seed: fast-check draws arrays element by
 * element, which for tens of kilobytes costs more than the receiver under test.
 */
export function bulkBytesArbitrary(minLength: number, maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.integer({ min: minLength, max: maxLength }), fc.nat()).map(([length, seed]) => {
    const bytes = new Uint8Array(length);
    let state = (seed >>> 0) | 1;
    for (let i = 0; i < length; i++) {
      // xorshift32: cheap, and deterministic for the shrunk and printed counterexample
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      bytes[i] = state & 0xff;
    }
    return bytes;
  });
}

export const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flipBits' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.oneof(smallBytes, bulkBytesArbitrary(1000, 8000)) }),
  fc.record({ kind: fc.constant('overwrite' as const), offset: fc.nat({ max: 40 }), bytes: smallBytes }),
  fc.record({ kind: fc.constant('version' as const), version: fc.constantFrom(0 as const, 1 as const, 3 as const) }),
  fc.record({ kind: fc.constant('payloadType' as const), payloadType: fc.integer({ min: 0, max: 127 }) }),
  fc.record({ kind: fc.constant('marker' as const) }),
  fc.record({ kind: fc.constant('ssrc' as const), ssrc: fc.nat({ max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('csrcCount' as const), count: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ kind: fc.constant('extension' as const), words: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff })) }),
  fc.record({ kind: fc.constant('padding' as const), count: byte }),
  fc.record({ kind: fc.constant('sequence' as const), delta: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -0xffff, max: 0xffff })) }),
  fc.record({ kind: fc.constant('timestamp' as const), delta: fc.oneof(fc.integer({ min: -4000, max: 4000 }), fc.integer({ min: -0x7fffffff, max: 0x7fffffff })) }),
);

/** Random bytes of the sizes that matter: empty, shorter than a header, typical, jumbo. */
export const randomDatagramArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 16 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 3, arbitrary: bulkBytesArbitrary(0, 1500) },
  { weight: 1, arbitrary: bulkBytesArbitrary(1900, 1940) },
  { weight: 1, arbitrary: bulkBytesArbitrary(8000, 65_507) },
);

export const badDatagramArbitrary: fc.Arbitrary<BadDatagram> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ source: fc.constant('random' as const), bytes: randomDatagramArbitrary }) },
  {
    weight: 3,
    arbitrary: fc.record({
      source: fc.constant('mutated' as const),
      base: fc.nat(),
      mutations: fc.array(mutationArbitrary, { minLength: 1, maxLength: 3 }),
    }),
  },
);

function applyMutation(input: Uint8Array, mutation: Mutation): Uint8Array {
  const out = Uint8Array.from(input);
  const view = new DataView(out.buffer);
  const hasHeader = out.length >= 12;
  switch (mutation.kind) {
    case 'flipBits':
      if (out.length > 0) for (const bit of mutation.bits) out[(bit >> 3) % out.length] ^= 1 << (bit & 7);
      return out;
    case 'truncate':
      return out.subarray(0, out.length === 0 ? 0 : mutation.keep % out.length);
    case 'extend': {
      const longer = new Uint8Array(out.length + mutation.bytes.length);
      longer.set(out);
      longer.set(mutation.bytes, out.length);
      return longer;
    }
    case 'overwrite':
      for (let i = 0; i < mutation.bytes.length && mutation.offset + i < out.length; i++) out[mutation.offset + i] = mutation.bytes[i];
      return out;
    case 'version':
      if (out.length > 0) out[0] = (out[0] & 0x3f) | (mutation.version << 6);
      return out;
    case 'payloadType':
      if (out.length > 1) out[1] = (out[1] & 0x80) | mutation.payloadType;
      return out;
    case 'marker':
      if (out.length > 1) out[1] ^= 0x80;
      return out;
    case 'ssrc':
      if (hasHeader) view.setUint32(8, mutation.ssrc);
      return out;
    case 'csrcCount':
      if (out.length > 0) out[0] = (out[0] & 0xf0) | mutation.count;
      return out;
    case 'extension': {
      if (out.length === 0) return out;
      out[0] |= 0x10;
      const at = 12 + 4 * (out[0] & 0x0f);
      if (at + 4 <= out.length) view.setUint16(at + 2, mutation.words);
      return out;
    }
    case 'padding':
      if (out.length === 0) return out;
      out[0] |= 0x20;
      out[out.length - 1] = mutation.count;
      return out;
    case 'sequence':
      if (out.length >= 4) view.setUint16(2, (view.getUint16(2) + mutation.delta) & 0xffff);
      else if (out.length >= 2) view.setUint16(0, (view.getUint16(0, true) + mutation.delta) & 0xffff, true);
      return out;
    case 'timestamp':
      if (out.length >= 8) view.setUint32(4, (view.getUint32(4) + mutation.delta) >>> 0);
      return out;
  }
}

/** The bytes of one bad datagram; `valid` are the well-formed datagrams sent so far. */
export function materialize(bad: BadDatagram, valid: readonly Uint8Array[]): Uint8Array {
  if (bad.source === 'random' || valid.length === 0) return bad.source === 'random' ? bad.bytes : new Uint8Array(0);
  return bad.mutations.reduce(applyMutation, valid[bad.base % valid.length]);
}

export function applyMutations(datagram: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  return mutations.reduce(applyMutation, datagram);
}

export type Verdict = { accepted: true; ssrc: number; payloadBytes: number } | { accepted: false; why: string };

/** What RFC 3550 5.1 says of a datagram offered to a receiver of `payloadType`. */
export function rtpVerdict(datagram: Uint8Array, payloadType: number): Verdict {
  if (datagram.length < 12) return { accepted: false, why: 'shorter than the fixed header' };
  if (datagram[0] >> 6 !== 2) return { accepted: false, why: 'not version 2' };
  if ((datagram[1] & 0x7f) !== payloadType) return { accepted: false, why: 'other payload type' };
  let headerBytes = 12 + 4 * (datagram[0] & 0x0f);
  if (headerBytes > datagram.length) return { accepted: false, why: 'CSRC list overruns' };
  if (datagram[0] & 0x10) {
    if (headerBytes + 4 > datagram.length) return { accepted: false, why: 'extension header overruns' };
    headerBytes += 4 + 4 * ((datagram[headerBytes + 2] << 8) | datagram[headerBytes + 3]);
    if (headerBytes > datagram.length) return { accepted: false, why: 'extension overruns' };
  }
  let padding = 0;
  if (datagram[0] & 0x20) {
    padding = datagram[datagram.length - 1];
    if (padding === 0 || headerBytes + padding > datagram.length) return { accepted: false, why: 'bad padding count' };
  }
  const ssrc = ((datagram[8] << 24) | (datagram[9] << 16) | (datagram[10] << 8) | datagram[11]) >>> 0;
  return { accepted: true, ssrc, payloadBytes: datagram.length - headerBytes - padding };
}

/** The seed format has no header to check: exactly the right size is a packet. */
export function seedVerdict(datagram: Uint8Array, frameSamples: number): Verdict {
  return datagram.length === 2 + 2 * frameSamples
    ? { accepted: true, ssrc: 0, payloadBytes: 2 * frameSamples }
    : { accepted: false, why: `${datagram.length} bytes` };
}

/**
 * The seed of one fuzz test: FUZZ_SEED from the environment reproduces a failure, otherwise a
 * fresh one. Callers print it (t.log) and hand it to fc.assert, whose failure report repeats it.
 */
export function fuzzSeed(): number {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${fromEnv}`);
    return seed;
  }
  return (Date.now() ^ (process.pid << 16)) | 0;
}

/** Runs count scales with FUZZ_RUNS_SCALE (e.g. 10 for a long local run); at least one run. */
export function fuzzRuns(base: number): number {
  const scale = Number(process.env.FUZZ_RUNS_SCALE ?? '1');
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}
