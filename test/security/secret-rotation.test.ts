import test from 'ava';
import { generateSiteSecret } from '../../src/security/site-secret.js';
import { newRotationId, RotationKeyShare, type RotationTranscript } from '../../src/security/secret-rotation.js';

// The pure part of a rotation's handover: both units derive the same keys from their fresh X25519
// values and the old secret; the sealed secret opens only under that handover's key; the
// confirmation proves the receiver opened it.

function handover(oldSecret = generateSiteSecret()) {
  const rotator = new RotationKeyShare();
  const receiver = new RotationKeyShare();
  const transcript: RotationTranscript = {
    rotationId: newRotationId(),
    rotatorUnitId: 'unit-rotator-0001',
    receiverUnitId: 'unit-receiver-0002',
    rotatorKeyShare: rotator.publicValue,
    receiverKeyShare: receiver.publicValue,
  };
  return { rotator, receiver, transcript, oldSecret };
}

test('both sides derive the same keys: the receiver opens the new secret and proves it', (t) => {
  const { rotator, receiver, transcript, oldSecret } = handover();
  const rotatorKeys = rotator.agree(receiver.publicValue, oldSecret, transcript);
  const receiverKeys = receiver.agree(rotator.publicValue, oldSecret, transcript);
  const newSecret = generateSiteSecret();
  const sealed = rotatorKeys.seal(newSecret);
  t.false(sealed.includes(newSecret));
  t.is(receiverKeys.open(sealed), newSecret);
  t.true(rotatorKeys.confirms(newSecret, receiverKeys.confirmation(newSecret)));
  t.false(rotatorKeys.confirms(generateSiteSecret(), receiverKeys.confirmation(newSecret)), 'a confirmation of another secret does not count');
});

test('a sealed secret does not open under another handover, another transcript or another old secret', (t) => {
  const first = handover();
  const second = handover(first.oldSecret);
  const sealed = first.rotator.agree(first.receiver.publicValue, first.oldSecret, first.transcript).seal(generateSiteSecret());
  t.throws(() => second.receiver.agree(second.rotator.publicValue, second.oldSecret, second.transcript).open(sealed), { message: /does not open/ });

  const shifted = handover();
  const keys = shifted.rotator.agree(shifted.receiver.publicValue, shifted.oldSecret, shifted.transcript);
  const other = shifted.receiver.agree(shifted.rotator.publicValue, shifted.oldSecret, { ...shifted.transcript, receiverUnitId: 'unit-someone-else' });
  t.throws(() => other.open(keys.seal(generateSiteSecret())), { message: /does not open/ });

  const salted = handover();
  const rotatorKeys = salted.rotator.agree(salted.receiver.publicValue, salted.oldSecret, salted.transcript);
  const wrongSalt = salted.receiver.agree(salted.rotator.publicValue, generateSiteSecret(), salted.transcript);
  t.throws(() => wrongSalt.open(rotatorKeys.seal(generateSiteSecret())), { message: /does not open/ });
});

test('a tampered seal is refused', (t) => {
  const { rotator, receiver, transcript, oldSecret } = handover();
  const sealed = Buffer.from(rotator.agree(receiver.publicValue, oldSecret, transcript).seal(generateSiteSecret()), 'base64url');
  sealed[20] ^= 1;
  t.throws(() => receiver.agree(rotator.publicValue, oldSecret, transcript).open(sealed.toString('base64url')), { message: /does not open/ });
});

test('a key share is used once; a reflected, malformed or low-order share is refused', (t) => {
  const { rotator, receiver, transcript, oldSecret } = handover();
  rotator.agree(receiver.publicValue, oldSecret, transcript);
  t.throws(() => rotator.agree(receiver.publicValue, oldSecret, transcript), { message: /used already/ });
  t.throws(() => new RotationKeyShare().agree('not a share', oldSecret, transcript), { message: /not an X25519/ });
  const own = new RotationKeyShare();
  t.throws(() => own.agree(own.publicValue, oldSecret, transcript), { message: /reflected/ });
  // The all-zero point gives an all-zero shared secret, which node:crypto refuses.
  t.throws(() => new RotationKeyShare().agree(Buffer.alloc(32).toString('base64url'), oldSecret, transcript), { message: /unusable/ });
});
