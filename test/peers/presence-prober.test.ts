import test from 'ava';
import { PresenceProber, type ProbeMember, type PresenceTransport } from '../../src/peers/presence-prober.js';
import { decodeDatagram, encodeDatagram, viewDigest } from '../../src/peers/presence-datagram.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger } from '../support/fake-gpio.js';

/**
 * The prober against an attacker on the LAN who records every datagram, sends them again, forges
 * its own and answers for units that are gone: none of it makes a unit look alive.
 */

const SECRET = 'the-prober-test-site-secret-000';
const WALL = 1_790_000_000_000;

interface Node {
  unitId: string;
  host: string;
  up: boolean;
  prober: PresenceProber;
  alive: string[];
  down: string[];
  handler?: (bytes: Buffer, from: { host: string; port: number }) => void;
}

/** `latencyMs`: each datagram's time on the wire (1 ms unless a test needs an ack to land on a deadline). */
function lan(clock: FakeClock, latencyMs = 1) {
  const nodes = new Map<string, Node>();
  /** Every datagram that went over the wire, as the attacker records it. */
  const recorded: { bytes: Buffer; to: string; from: string }[] = [];
  /** Links that are down, "from>to". */
  const cut = new Set<string>();
  const deliver = (bytes: Buffer, to: string, from: string) => {
    if (cut.has(`${from}>${to}`)) return;
    clock.setTimeout(() => {
      const node = nodes.get(to);
      if (node?.up) node.handler?.(bytes, { host: from, port: 7000 });
    }, latencyMs);
  };
  const members: ProbeMember[] = [];
  const add = (unitId: string, host: string, secret = SECRET) => {
    const transport: PresenceTransport = {
      send: (bytes, toHost) => {
        if (!node.up) return;
        recorded.push({ bytes, to: toHost, from: host });
        deliver(bytes, toHost, host);
      },
      onDatagram: (handler) => {
        node.handler = handler;
      },
    };
    const node: Node = {
      unitId,
      host,
      up: true,
      alive: [],
      down: [],
      prober: undefined as unknown as PresenceProber,
    };
    node.prober = new PresenceProber({
      selfUnitId: unitId,
      clock,
      wallClock: () => WALL + clock.now(),
      secret: () => secret,
      transport,
      members: () => members.filter((member) => member.unitId !== unitId),
      selfVersion: () => '1.0',
      findings: { alive: (id) => node.alive.push(id), down: (id) => node.down.push(id), up: () => {} },
      periodMs: 1000,
      timeoutMs: 200,
      indirectProbes: 1,
      backstopIntervalMs: 10_000,
      maxClockSkewMs: 30_000,
    });
    nodes.set(host, node);
    members.push({ unitId, host, port: 7000, online: true });
    return node;
  };
  return { nodes, recorded, add, deliver, members, cut };
}

test('a unit that answers is alive; one that is gone is declared down after the direct and the indirect probe', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  net.add('unit-cccc-0003', '10.0.0.3');
  a.prober.start();
  await clock.advance(1010);
  t.true(a.alive.includes(b.unitId));
  b.up = false;
  await clock.advance(1000 + 200 + 400 + 10);
  t.deepEqual(a.down, [b.unitId]);
  a.prober.stop();
});

test('recorded acks sent again from a gone unit\'s address do not make it alive', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  const c = net.add('unit-cccc-0003', '10.0.0.3');
  // Only b's successor probing matters here: a probes b.
  a.prober.start();
  await clock.advance(1010);
  const oldAcks = net.recorded.filter((entry) => entry.from === b.host && decodeDatagram(SECRET, entry.bytes).ok && (decodeDatagram(SECRET, entry.bytes) as { datagram: { kind: string } }).datagram.kind === 'ack');
  t.true(oldAcks.length > 0);
  b.up = false;
  c.up = false; // no helper either
  a.alive.length = 0;
  // The attacker answers every ping to b with b's recorded acks, from b's address.
  const replay = () => {
    for (const ack of oldAcks) net.deliver(ack.bytes, a.host, b.host);
  };
  const timer = clock.setInterval(replay, 50);
  await clock.advance(2000);
  clock.clearInterval(timer);
  t.false(a.alive.includes(b.unitId), 'replayed acks prove nothing');
  t.true(a.down.includes(b.unitId));
  a.prober.stop();
});

test('forged datagrams (another secret) and replayed pings are refused, prove no one alive, and do not count as being probed (which stops DNS-SD announcements)', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  // Forged: a ping "from b" made with a guessed secret.
  const forged = encodeDatagram('not-the-site-secret-at-all-00', { kind: 'ping', from: b.unitId, to: a.unitId, nonce: 'forged-nonce-0001', ts: WALL, ver: '1.0' });
  net.deliver(forged, a.host, b.host);
  await clock.advance(10);
  t.deepEqual(a.alive, []);
  t.is(a.prober.counters().refused, 1);
  t.is(a.prober.lastProbedByPeerAt(), -Infinity);

  // A real ping from b, recorded, then b is gone and the attacker sends it again.
  b.prober.start();
  await clock.advance(1010);
  const ping = net.recorded.find((entry) => entry.from === b.host && entry.to === a.host)!;
  t.truthy(ping);
  t.true(a.alive.includes(b.unitId), "b's own ping shows it alive");
  const probedAt = a.prober.lastProbedByPeerAt();
  t.true(probedAt > 1000 && probedAt <= clock.now(), `probed at ${probedAt}`);
  b.prober.stop();
  b.up = false;
  a.alive.length = 0;
  const refusedBefore = a.prober.counters().refused;
  net.deliver(ping.bytes, a.host, b.host);
  await clock.advance(10);
  t.deepEqual(a.alive, [], 'a ping sent again is not news');
  t.is(a.prober.lastProbedByPeerAt(), probedAt, 'nor does it count as being probed');
  t.is(a.prober.counters().refused, refusedBefore + 1);

  // Malformed and oversized datagrams are counted, never thrown.
  net.deliver(Buffer.from('garbage'), a.host, b.host);
  net.deliver(Buffer.alloc(5000), a.host, b.host);
  await clock.advance(10);
  t.is(a.prober.counters().refused, refusedBefore + 3);
});

test('a removed unit probing on with the old secret: every datagram refused and counted, said in the log once a minute, never per datagram', async (t) => {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger();
  let handler: ((bytes: Buffer, from: { host: string; port: number }) => void) | undefined;
  const hall = new PresenceProber({
    selfUnitId: 'unit-hall-0001',
    clock,
    wallClock: () => WALL + clock.now(),
    secret: () => 'the-rotated-site-secret-0000001',
    transport: { send: () => {}, onDatagram: (h) => void (handler = h) },
    members: () => [],
    selfVersion: () => '1.0',
    findings: { alive: () => t.fail('nobody is proved alive'), down: () => {}, up: () => {} },
    periodMs: 1000,
    timeoutMs: 200,
    indirectProbes: 1,
    backstopIntervalMs: 10_000,
    maxClockSkewMs: 30_000,
    logger,
  });
  const refusedLines = () => lines.filter((line) => /presence datagrams refused/.test(line.msg));
  // Garage, removed, still holds the old secret: a ping a second for two and a half minutes.
  for (let second = 0; second < 150; second++) {
    const ping = encodeDatagram(SECRET, { kind: 'ping', from: 'unit-garage-0002', to: 'unit-hall-0001', nonce: `old-secret-${String(second).padStart(6, '0')}`, ts: WALL + clock.now(), ver: '1.0' });
    t.notThrows(() => handler!(ping, { host: '10.0.0.2', port: 7000 }));
    await clock.advance(1000);
  }
  t.is(hall.counters().refused, 150);
  t.is(refusedLines().length, 3, 'at 0 s, 60 s and 120 s');
  t.like(refusedLines()[0], { reason: 'bad-signature', from: '10.0.0.2:7000', refused: 1 });
  t.like(refusedLines()[1], { refused: 60 }, 'with how many came since the last line');
});

test('a ping stamped outside the freshness window is refused', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const stale = encodeDatagram(SECRET, { kind: 'ping', from: 'unit-bbbb-0002', to: a.unitId, nonce: 'stale-nonce-00001', ts: WALL - 60_000, ver: '1.0' });
  net.deliver(stale, a.host, '10.0.0.2');
  await clock.advance(10);
  t.deepEqual(a.alive, []);
  t.is(a.prober.counters().refused, 1);
});

test('through a helper: a unit a cannot reach directly but the helper can is alive', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  net.add('unit-cccc-0003', '10.0.0.3');
  // a's direct link to b is cut (both ways); the helper c reaches b.
  net.cut.add(`${a.host}>${b.host}`);
  net.cut.add(`${b.host}>${a.host}`);
  a.prober.start();
  await clock.advance(1000 + 200 + 400 + 10);
  t.deepEqual(a.down, []);
  t.true(a.alive.includes(b.unitId));
  a.prober.stop();
});

test('pings and acks carry the digest of what their sender sees online; one that is no digest is left out, the datagram still taken', (t) => {
  const secret = 'view-test-secret';
  const view = viewDigest(['unit-b', 'unit-a', 'unit-c']);
  t.is(view, viewDigest(['unit-c', 'unit-a', 'unit-b', 'unit-a']), 'the same units in any order, once or twice: the same digest');
  t.not(view, viewDigest(['unit-a', 'unit-b']));
  const ping = { kind: 'ping', from: 'unit-a', to: 'unit-b', nonce: 'nonce-0001', ts: 5, ver: '1.0' } as const;
  const decoded = decodeDatagram(secret, encodeDatagram(secret, { ...ping, view }));
  t.deepEqual(decoded, { ok: true, datagram: { ...ping, view } });
  const odd = decodeDatagram(secret, encodeDatagram(secret, { ...ping, view: 'not a digest' }));
  t.deepEqual(odd, { ok: true, datagram: ping });
  const ack = { kind: 'ack', from: 'unit-b', to: 'unit-a', nonce: 'nonce-0001', ver: '1.0', view } as const;
  t.deepEqual(decodeDatagram(secret, encodeDatagram(secret, ack)), { ok: true, datagram: ack });
});

test('a unit that stays away is pinged less and less often (its address costs every unit ARP broadcasts); one that comes back is heard at once; a unit that sees none online asks every period', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  const c = net.add('unit-cccc-0003', '10.0.0.3');
  // b (a's successor) is gone and known offline: it is a's to watch, and the backstop's too.
  b.up = false;
  net.members.find((member) => member.unitId === b.unitId)!.online = false;
  const pingsTo = (host: string, from = a.host) => net.recorded.filter((entry) => entry.from === from && entry.to === host && (decodeDatagram(SECRET, entry.bytes) as { datagram: { kind: string } }).datagram.kind === 'ping').length;
  a.prober.start();
  await clock.advance(5 * 60_000);
  const firstFive = pingsTo(b.host);
  await clock.advance(5 * 60_000);
  const nextFive = pingsTo(b.host) - firstFive;
  t.log(`pings to the vanished unit: ${firstFive} in the first five minutes, ${nextFive} in the next five (one a period before: 300 each)`);
  // The watch at most once a minute after the first doublings, the backstop less often still.
  t.true(firstFive <= 20, `first five minutes: ${firstFive}`);
  t.true(nextFive >= 5 && nextFive <= 7, `next five minutes: ${nextFive}`);
  t.true(pingsTo(c.host) >= 290, 'the online successor is still probed every period');

  // b comes back: its own probes reach a (b's successor in the ring is c, then a; c is told down
  // here so that b's probe goes to a), and a hears it within a period, not a minute.
  net.members.find((member) => member.unitId === c.unitId)!.online = false;
  c.up = false;
  b.up = true;
  b.prober.start();
  a.alive.length = 0;
  await clock.advance(1010);
  t.true(a.alive.includes(b.unitId), 'its own ping shows it alive');
  b.prober.stop();

  // a, seeing no unit online (cut off itself, as it looks), pings one every period, however long the others have been away.
  for (const member of net.members) member.online = false;
  b.up = true;
  c.up = true;
  const before = pingsTo(b.host) + pingsTo(c.host);
  await clock.advance(10_000);
  t.true(pingsTo(b.host) + pingsTo(c.host) - before >= 10, 'one a period');
  a.prober.stop();
});

test('the backstop pings to offline units outside the watch share one budget for the site: each unit pings once per interval times the units it sees online, and only one that is really back is heard', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  // a's successor is b (online); f..j vanished, outside a's watch (they lie between other units).
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const nodes = ids.map((letter, index) => net.add(`unit-${letter.repeat(4)}-000${index}`, `10.0.0.${index + 1}`));
  const [a] = nodes;
  const gone = nodes.slice(5);
  for (const node of gone) {
    node.up = false;
    net.members.find((member) => member.unitId === node.unitId)!.online = false;
  }
  const pingsToGone = () => net.recorded.filter((entry) => entry.from === a.host && gone.some((node) => node.host === entry.to)).length;
  a.prober.start();
  await clock.advance(10 * 60_000);
  t.log(`a pinged the vanished units ${pingsToGone()} times in ten minutes (one every 10 s before: 60)`);
  // One every backstopIntervalMs × 4 units online (b..e) = 40 s: 15 in ten minutes.
  t.true(pingsToGone() >= 12 && pingsToGone() <= 16, `${pingsToGone()} pings in ten minutes`);

  // One of them comes back without a word (its own probes go elsewhere): the backstop still finds it.
  const back = gone[2];
  back.up = true;
  a.alive.length = 0;
  await clock.advance(30 * 60_000);
  t.true(a.alive.includes(back.unitId), 'the returned unit answered a backstop ping');
  a.prober.stop();
});

test('an ack waiting when the deadline passes counts: a process that got no CPU for a while runs the deadline\'s timer before the datagram already in its socket, and must not declare the unit that answered in time silent', async (t) => {
  const clock = new FakeClock();
  // 100 ms each way, 200 ms timeout: the ack lands at the deadline, after the deadline's timer was due.
  const net = lan(clock, 100);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  a.prober.start();
  await clock.advance(1000 + 200 + 5);
  t.deepEqual(a.down, [], 'b answered by the deadline');
  t.true(a.alive.includes(b.unitId));
  t.is(await Promise.all([a.prober.verify(b.unitId), clock.advance(250)]).then(([version]) => version), '1.0', 'verify too');
  // Gone, it is still declared down after the direct and the indirect probe.
  b.up = false;
  await clock.advance(1000 + 200 + 400 + 10);
  t.deepEqual(a.down, [b.unitId]);
  a.prober.stop();
});

test('a machine so busy that its processes sleep through a probe\'s wait delays the verdict instead of declaring the unit that answered silent; a gone unit is still declared down', async (t) => {
  const clock = new FakeClock();
  const net = lan(clock);
  const a = net.add('unit-aaaa-0001', '10.0.0.1');
  const b = net.add('unit-bbbb-0002', '10.0.0.2');
  a.prober.start();
  // a pings b; then nothing runs for 400 ms (twice the 200 ms wait): b reads the ping only when
  // a's deadline is long past, and its ack lands a millisecond later.
  await clock.advance(1000);
  await clock.stall(400);
  await clock.advance(300);
  t.deepEqual(a.down, [], 'b answered as soon as the machine let it');
  t.true(a.alive.includes(b.unitId));
  // The same through verify() (another unit's word): the stall comes between the ping and its ack.
  const verdict = a.prober.verify(b.unitId);
  await clock.stall(450);
  await clock.advance(50);
  t.is(await verdict, '1.0');
  // Gone, it is still declared down, stalls or not, after at most two more waits of each kind.
  b.up = false;
  const downBy = clock.now() + 1000 + 3 * 200 + 3 * 400 + 10;
  await clock.advance(1000 - (clock.now() % 1000));
  for (let i = 0; i < 3; i++) {
    await clock.stall(150);
    await clock.advance(10);
  }
  await clock.advance(Math.max(0, downBy - clock.now()));
  t.true(a.down.includes(b.unitId));
  a.prober.stop();
});
