import test from 'ava';
import { CallKeyExchange, type CallKeyTranscript } from '../../src/security/call-key-exchange.js';

const SECRET = 'the-site-secret-of-the-test-site';

function exchange(siteSecret = SECRET) {
  const keys = new CallKeyExchange(siteSecret);
  const caller = keys.newShare();
  const callee = keys.newShare();
  const transcript: CallKeyTranscript = {
    callId: '11111111-0000-4000-8000-000000000000',
    callerUnitId: 'aaaaaaaa-unit',
    calleeUnitId: 'bbbbbbbb-unit',
    callerKeyShare: caller.publicValue,
    calleeKeyShare: callee.publicValue,
  };
  return { keys, caller, callee, transcript };
}

test('both sides derive the same sealing keys; what one seals for a direction only the other opens, for that direction', (t) => {
  const { caller, callee, transcript } = exchange();
  const atCaller = caller.agree(callee.publicValue, transcript);
  const atCallee = callee.agree(caller.publicValue, transcript);
  const sealed = atCaller.seal('caller-to-callee', 'inline:caller-keys');
  t.is(atCallee.open('caller-to-callee', sealed), 'inline:caller-keys');
  t.throws(() => atCallee.open('callee-to-caller', sealed), { message: /do not open/ });
  t.is(atCaller.open('callee-to-caller', atCallee.seal('callee-to-caller', 'inline:callee-keys')), 'inline:callee-keys');
  t.not(atCaller.seal('caller-to-callee', 'x'), atCaller.seal('caller-to-callee', 'x'), 'a fresh IV every time');
});

test('a seal opens only for the same call between the same units, under the same site, untampered', (t) => {
  for (const [what, change] of [
    ['another call id', { callId: '22222222-0000-4000-8000-000000000000' }],
    ['another caller', { callerUnitId: 'cccccccc-unit' }],
    ['another callee', { calleeUnitId: 'dddddddd-unit' }],
  ] as const) {
    const { caller, callee, transcript } = exchange();
    const sealed = caller.agree(callee.publicValue, transcript).seal('caller-to-callee', 'inline:caller-keys');
    t.throws(() => callee.agree(caller.publicValue, { ...transcript, ...change }).open('caller-to-callee', sealed), { message: /do not open/ }, what);
  }
  {
    const { caller, callee, transcript } = exchange();
    const sealed = caller.agree(callee.publicValue, transcript).seal('caller-to-callee', 'inline:caller-keys');
    const elsewhere = new CallKeyExchange('another-site-secret-0000000000').newShare();
    t.throws(() => elsewhere.agree(caller.publicValue, { ...transcript, calleeKeyShare: elsewhere.publicValue }).open('caller-to-callee', sealed), { message: /do not open/ }, 'anyone without the private key');
  }
  {
    const caller = new CallKeyExchange(SECRET).newShare();
    const callee = new CallKeyExchange('another-site-secret-0000000000').newShare();
    const transcript = { ...exchange().transcript, callerKeyShare: caller.publicValue, calleeKeyShare: callee.publicValue };
    const sealed = caller.agree(callee.publicValue, transcript).seal('caller-to-callee', 'inline:x');
    t.throws(() => callee.agree(caller.publicValue, transcript).open('caller-to-callee', sealed), { message: /do not open/ }, 'units of two sites');
  }
  {
    const { caller, callee, transcript } = exchange();
    const sealed = Buffer.from(caller.agree(callee.publicValue, transcript).seal('caller-to-callee', 'inline:x'), 'base64url');
    sealed[sealed.length - 1] ^= 1;
    t.throws(() => callee.agree(caller.publicValue, transcript).open('caller-to-callee', sealed.toString('base64url')), { message: /do not open/ }, 'tampered');
  }
});

test('malformed, reflected and low-order public values are refused; a share is used once', (t) => {
  const { caller, transcript } = exchange();
  const keys = new CallKeyExchange(SECRET);
  t.throws(() => keys.newShare().agree('not a key', transcript), { message: /not an X25519 public value/ });
  const reflected = keys.newShare();
  t.throws(() => reflected.agree(reflected.publicValue, transcript), { message: /own/ });
  // The all-zero point gives an all-zero shared secret, which X25519 refuses.
  t.throws(() => keys.newShare().agree(Buffer.alloc(32).toString('base64url'), transcript), { message: /unusable/ });
  const once = keys.newShare();
  once.agree(caller.publicValue, transcript);
  t.throws(() => once.agree(caller.publicValue, transcript), { message: /used already/ });
});
