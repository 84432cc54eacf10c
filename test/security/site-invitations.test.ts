import test from 'ava';
import { SiteInvitations } from '../../src/security/site-invitations.js';
import { JoinerExchange } from '../../src/security/site-join-exchange.js';
import { loadCpace } from '../../src/security/cpace.js';

// CPace loads its group arithmetic on first use (a unit's join), not with the module.
test.before(() => loadCpace());

// The one-time codes, on a clock the test moves: expiry, one use, 3 tries from any addresses,
// the per-address start limit, and a new code replacing the old.

const INVITER = { unitId: 'inviter-unit-1', name: 'Hall' };
const SECRET = 'the-site-secret-of-this-test-0123456789';
const joinerStart = (code: string) => {
  const exchange = new JoinerExchange(code, { unitId: 'joiner-unit-1', name: 'Kitchen', httpPort: 5000 });
  return { exchange, start: exchange.start };
};

test('the right code opens the secret once; the confirmation spends it', (t) => {
  const invitations = new SiteInvitations();
  const { code } = invitations.create(0);
  t.regex(code, /^[0-9]{6}$/);
  const { exchange, start } = joinerStart(code);
  const outcome = invitations.start(start, '10.0.0.2', INVITER, SECRET, 1000);
  if (!outcome.ok) return t.fail(outcome.message);
  const finished = exchange.finish(outcome.answer);
  t.is(finished?.secret, SECRET);
  t.like(invitations.confirm(finished!.confirm, 2000), { ok: true, joiner: { unitId: 'joiner-unit-1', address: '10.0.0.2', httpPort: 5000 } });
  t.is(invitations.view(2000), null);
  t.like(invitations.start(joinerStart(code).start, '10.0.0.2', INVITER, SECRET, 3000), { ok: false, status: 410, error: 'code-used' });
});

test('a wrong code opens nothing; three starts from different addresses kill the code', (t) => {
  const invitations = new SiteInvitations();
  const { code } = invitations.create(0);
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
  for (const address of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) {
    const { exchange, start } = joinerStart(wrong);
    const outcome = invitations.start(start, address, INVITER, SECRET, 1000);
    if (!outcome.ok) return t.fail(outcome.message);
    t.is(exchange.finish(outcome.answer), null);
  }
  t.is(invitations.view(1000), null);
  t.like(invitations.start(joinerStart(code).start, '10.0.0.5', INVITER, SECRET, 1000), { ok: false, status: 410, error: 'code-dead' });
});

test('a code dies after 5 minutes; a new code replaces the old; starts per address are limited', (t) => {
  const invitations = new SiteInvitations({ maxTries: 100 });
  const first = invitations.create(0);
  t.like(invitations.start(joinerStart(first.code).start, 'a', INVITER, SECRET, 300_000), { ok: false, status: 410, error: 'code-expired' });
  const second = invitations.create(300_000);
  t.like(invitations.start(joinerStart(first.code).start, 'b', INVITER, SECRET, 300_001), { ok: true });
  t.true(invitations.view(300_001)!.code === second.code);
  for (let n = 0; n < 10; n++) invitations.start(joinerStart('000000').start, 'c', INVITER, SECRET, 301_000);
  t.like(invitations.start(joinerStart('000000').start, 'c', INVITER, SECRET, 301_000), { ok: false, status: 429 });
  t.like(invitations.start(joinerStart('000000').start, 'c', INVITER, SECRET, 361_001), { ok: true }, 'a minute later it may try again');
  invitations.cancel();
  t.like(invitations.start(joinerStart('000000').start, 'd', INVITER, SECRET, 362_000), { ok: false, status: 404, error: 'no-invitation' });
});
