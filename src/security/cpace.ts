import { randomBytes } from 'node:crypto';
import type * as Curves from '@noble/curves/ed25519.js';
import type * as Hashes from '@noble/hashes/sha2.js';

/**
 * CPace, the balanced password-authenticated key exchange of the IRTF CFRG
 * (draft-irtf-cfrg-cpace), on the ristretto255 group with SHA-512, in the initiator-responder
 * setting. The group arithmetic, the element derivation (RFC 9496) and the hash are
 * @noble/curves and @noble/hashes; this module is only the draft's few lines of glue, checked
 * against the draft's own test vectors (test/security/cpace.test.ts).
 *
 * Both sides know a low-entropy password (here a one-time code). Each sends one group element;
 * both end with the same 64-byte intermediate session key (ISK) only when they used the same
 * password. Someone who records the exchange learns nothing that lets them test passwords offline
 * (each guess needs a run of the protocol with one side); an active attacker gets one guess per run.
 *
 * Pure: no I/O; randomness only in `sampleScalar` (tests give their own scalars).
 */

type RistrettoPoint = InstanceType<typeof Curves.ristretto255.Point>;

/**
 * The group and the hash, loaded on the first join rather than with the service: @noble/curves
 * is ~1.7 MiB of every unit's heap for an exchange a unit makes once in its life.
 */
let math: { curves: typeof Curves; hashes: typeof Hashes } | undefined;

/** Loads what CPace computes with; every function below needs it done once. */
export async function loadCpace(): Promise<void> {
  if (math) return;
  const [curves, hashes] = await Promise.all([import('@noble/curves/ed25519.js'), import('@noble/hashes/sha2.js')]);
  math = { curves, hashes };
}

function loaded(): { curves: typeof Curves; hashes: typeof Hashes } {
  if (!math) throw new Error('CPace is not loaded yet (await loadCpace() first)');
  return math;
}
const sha512 = (data: Uint8Array) => loaded().hashes.sha512(data);

export const CPACE_DSI = new TextEncoder().encode('CPaceRistretto255');
const DSI_ISK = new TextEncoder().encode('CPaceRistretto255_ISK');
/** SHA-512's input block size, H.s_in_bytes in the draft. */
const HASH_BLOCK_BYTES = 128;
export const CPACE_SHARE_BYTES = 32;
export const CPACE_ISK_BYTES = 64;

/** The LEB128 encoding of `data`'s length followed by `data` (prepend_len in the draft). */
export function prependLength(data: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let length = data.length;
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    prefix.push(byte);
  } while (length > 0);
  return concatBytes(Uint8Array.from(prefix), data);
}

/** lv_cat in the draft: every argument, each with its length before it. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLength));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** generator_string(DSI, PRS, CI, sid, s_in_bytes): the password padded so it fills the hash's first block. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const padLength = Math.max(0, HASH_BLOCK_BYTES - 1 - prependLength(prs).length - prependLength(CPACE_DSI).length);
  return lvCat(CPACE_DSI, prs, new Uint8Array(padLength), ci, sid);
}

/** The password's generator: element_derivation(SHA-512(generator_string)) (RFC 9496 §4.3.4). */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): RistrettoPoint {
  return loaded().curves.ristretto255_hasher.deriveToCurve!(sha512(generatorString(prs, ci, sid)));
}

/** A secret scalar as the draft recommends: 32 random bytes, bits above the group's 252 cleared, little-endian. */
export function sampleScalar(random: (size: number) => Uint8Array = randomBytes): bigint {
  const bytes = Uint8Array.from(random(32));
  bytes[31]! &= 0x0f;
  const scalar = loaded().curves.ristretto255.Point.Fn.create(bytesToBigIntLE(bytes));
  // Zero has probability 2^-252; a scalar of zero would send the identity.
  return scalar === 0n ? sampleScalar(random) : scalar;
}

function bytesToBigIntLE(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let index = bytes.length - 1; index >= 0; index--) value = (value << 8n) | BigInt(bytes[index]!);
  return value;
}

/** One side's state between sending its share and receiving the other's. */
export interface CpaceParty {
  readonly sid: Uint8Array;
  readonly share: Uint8Array;
  readonly scalar: bigint;
}

export interface CpaceInputs {
  /** The password-related string: the one-time code. */
  prs: Uint8Array;
  /** The channel identifier (who talks to whom, which protocol). */
  ci: Uint8Array;
  /** The session id, unique per run (chosen by the initiator, at least 16 random bytes). */
  sid: Uint8Array;
}

/** Starts a run: Y = y·g. `scalar` only for the draft's test vectors. */
export function cpaceStart(inputs: CpaceInputs, scalar: bigint = sampleScalar()): CpaceParty {
  const generator = calculateGenerator(inputs.prs, inputs.ci, inputs.sid);
  return { sid: Uint8Array.from(inputs.sid), share: generator.multiply(scalar).toBytes(), scalar };
}

/** scalar_mult_vfy: y·X, or null when X does not decode to a group element or the result is the identity (the draft's aborts). */
export function scalarMultVerify(scalar: bigint, encoded: Uint8Array): Uint8Array | null {
  if (encoded.length !== CPACE_SHARE_BYTES) return null;
  let point: RistrettoPoint;
  try {
    point = loaded().curves.ristretto255.Point.fromBytes(encoded);
  } catch {
    return null;
  }
  const product = point.multiply(scalar);
  return product.is0() ? null : product.toBytes();
}

/** transcript_ir(Ya, ADa, Yb, ADb): the initiator's message first. */
export function transcriptInitiatorResponder(ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Uint8Array {
  return concatBytes(lvCat(ya, adA), lvCat(yb, adB));
}

/** ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript). */
export function intermediateSessionKey(sid: Uint8Array, k: Uint8Array, transcript: Uint8Array): Uint8Array {
  return sha512(concatBytes(lvCat(DSI_ISK, sid, k), transcript));
}

export interface CpaceMessages {
  /** The initiator's share and associated data. */
  ya: Uint8Array;
  adA: Uint8Array;
  /** The responder's share and associated data. */
  yb: Uint8Array;
  adB: Uint8Array;
}

/**
 * Finishes a run for `party`: the ISK, or null when the other share is invalid (then abort).
 * Both sides give the same `messages` (their own share in its place).
 */
export function cpaceFinish(party: CpaceParty, role: 'initiator' | 'responder', messages: CpaceMessages): Uint8Array | null {
  const theirs = role === 'initiator' ? messages.yb : messages.ya;
  const k = scalarMultVerify(party.scalar, theirs);
  if (k === null) return null;
  return intermediateSessionKey(party.sid, k, transcriptInitiatorResponder(messages.ya, messages.adA, messages.yb, messages.adB));
}
