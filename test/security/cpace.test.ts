import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  loadCpace,
  calculateGenerator,
  cpaceFinish,
  cpaceStart,
  generatorString,
  intermediateSessionKey,
  scalarMultVerify,
  transcriptInitiatorResponder,
} from '../../src/security/cpace.js';

// CPace loads its group arithmetic on first use (a unit's join), not with the module.
test.before(() => loadCpace());

// The test vectors of draft-irtf-cfrg-cpace, "Test vector for CPace using group ristretto255 and hash SHA-512".
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const scalarLE = (text: string): bigint => BigInt(`0x${Buffer.from(hex(text)).reverse().toString('hex')}`);

const PRS = utf8('Password');
const CI = hex('0b415f696e69746961746f720b425f726573706f6e646572');
const SID = hex('7e4b4791d6a8ef019b936c79fb7f2c57');
const YA_SCALAR = scalarLE('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08');
const YB_SCALAR = scalarLE('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d');

test('the generator matches the draft', (t) => {
  const gen = generatorString(PRS, CI, SID);
  t.is(gen.length, 170);
  t.is(toHex(gen.subarray(0, 28)), '11435061636552697374726574746f3235350850617373776f726464');
  t.is(toHex(calculateGenerator(PRS, CI, SID).toBytes()), '222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56');
});

test('shares, K and the ISK match the draft', (t) => {
  const a = cpaceStart({ prs: PRS, ci: CI, sid: SID }, YA_SCALAR);
  const b = cpaceStart({ prs: PRS, ci: CI, sid: SID }, YB_SCALAR);
  t.is(toHex(a.share), 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157');
  t.is(toHex(b.share), '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258');
  const k = '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f';
  t.is(toHex(scalarMultVerify(a.scalar, b.share)!), k);
  t.is(toHex(scalarMultVerify(b.scalar, a.share)!), k);
  const messages = { ya: a.share, adA: utf8('ADa'), yb: b.share, adB: utf8('ADb') };
  t.is(transcriptInitiatorResponder(messages.ya, messages.adA, messages.yb, messages.adB).length, 74);
  const isk = 'b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447';
  t.is(toHex(cpaceFinish(a, 'initiator', messages)!), isk);
  t.is(toHex(cpaceFinish(b, 'responder', messages)!), isk);
  t.is(toHex(intermediateSessionKey(SID, hex(k), transcriptInitiatorResponder(messages.ya, messages.adA, messages.yb, messages.adB))), isk);
});

test('random runs agree with the same code and disagree with another', (t) => {
  const sid = randomBytes(16);
  const ci = utf8('test');
  for (let run = 0; run < 5; run++) {
    const a = cpaceStart({ prs: utf8('123456'), ci, sid });
    const same = cpaceStart({ prs: utf8('123456'), ci, sid });
    const other = cpaceStart({ prs: utf8('123457'), ci, sid });
    const m1 = { ya: a.share, adA: utf8('a'), yb: same.share, adB: utf8('b') };
    t.deepEqual(cpaceFinish(a, 'initiator', m1), cpaceFinish(same, 'responder', m1));
    const m2 = { ya: a.share, adA: utf8('a'), yb: other.share, adB: utf8('b') };
    t.notDeepEqual(cpaceFinish(a, 'initiator', m2), cpaceFinish(other, 'responder', m2));
  }
});

test('the identity and undecodable shares abort', (t) => {
  const a = cpaceStart({ prs: utf8('1'), ci: utf8('c'), sid: randomBytes(16) });
  t.is(scalarMultVerify(a.scalar, new Uint8Array(32)), null, 'identity');
  t.is(scalarMultVerify(a.scalar, new Uint8Array(32).fill(0xff)), null, 'not an encoding');
  t.is(scalarMultVerify(a.scalar, new Uint8Array(31)), null, 'short');
  t.is(cpaceFinish(a, 'initiator', { ya: a.share, adA: new Uint8Array(), yb: new Uint8Array(32), adB: new Uint8Array() }), null);
});
