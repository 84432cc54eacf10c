import test from 'ava';
import { pino } from 'pino';
import { CallError, CallService, type CallPeerClient, type CallPeerLocator } from '../../src/calls/call-service.js';
import type { PeerResult } from '../../src/peers/peer-client.js';
import type { DirectoryEntry } from '../../src/peers/peer-directory.js';
import { FakeClock, settle } from '../support/fake-clock.js';
import { FakeCallMedia } from '../support/fake-call-media.js';
import { CallKeyExchange } from '../../src/security/call-key-exchange.js';
import { TEST_SITE_SECRET } from '../support/test-site.js';

// Two call services joined in-process: each one's peer client calls the other's handlers directly,
// and time is a fake clock, so ring timeouts and peer-lost run in microseconds and exactly.

const logger = pino({ level: 'silent' });

interface Unit {
  id: string;
  name: string;
  url: string;
  user: string;
  calls: CallService;
  media: FakeCallMedia;
}

class InProcessNetwork {
  readonly units = new Map<string, Unit>();
  readonly down = new Set<string>();
  /** While set, offers wait for this promise before being delivered (to make glare happen). */
  holdOffers: Promise<void> | null = null;
  /** While set, offers are delivered but their answers are lost (the caller's request times out). */
  loseOfferAnswers = false;

  clientFor(self: () => Unit): CallPeerClient {
    const sender = () => self().id;
    const deliver = async <T>(url: string, handle: (unit: Unit) => T | Promise<T>): Promise<PeerResult<T>> => {
      await Promise.resolve();
      const unit = this.units.get(url);
      if (!unit || this.down.has(url)) return { kind: 'unreachable', message: 'connection refused' };
      try {
        return { kind: 'ok', value: await handle(unit), from: unit.id };
      } catch (error) {
        if (!(error instanceof CallError)) throw error;
        return { kind: 'refused', status: 409, error: error.code, message: error.message, body: { error: error.code, call: error.call } };
      }
    };
    return {
      offer: async ({ baseUrl }, offer) => {
        if (this.holdOffers) await this.holdOffers;
        const answer = await deliver(baseUrl, (unit) => unit.calls.handleOffer(offer, { unitId: sender(), host: '127.0.0.1' }));
        return this.loseOfferAnswers ? { kind: 'unreachable', message: 'timed out' } : answer;
      },
      accept: ({ baseUrl }, callId, media) => deliver(baseUrl, (unit) => unit.calls.handleRemoteAccept(callId, media, sender())),
      end: ({ baseUrl }, callId, reason) => deliver(baseUrl, (unit) => unit.calls.handleRemoteEnd(callId, reason, sender())),
      callState: ({ baseUrl }, callId) => deliver(baseUrl, (unit) => unit.calls.handleStateQuery(callId, sender())),
    };
  }

  locatorFor(self: () => Unit): CallPeerLocator {
    return {
      findUser: (name): DirectoryEntry | null => {
        const unit = [...this.units.values()].find((candidate) => candidate.user.toLowerCase() === name.toLowerCase());
        if (!unit) return null;
        return { name: unit.user, unitId: unit.id, unitName: unit.name, local: unit === self(), online: !this.down.has(unit.url) };
      },
      baseUrlOf: (unitId) => [...this.units.values()].find((unit) => unit.id === unitId)?.url ?? null,
      noteHeardFrom: () => {},
      confirm: async (unitId) => [...this.units.values()].find((unit) => unit.id === unitId)?.url ?? null,
    };
  }
}

function pair(options: { ringTimeoutMs?: number; peerLostMs?: number; plainB?: boolean } = {}) {
  const clock = new FakeClock();
  const network = new InProcessNetwork();
  const make = (id: string, name: string, user: string, port: number, callIds: string[]): Unit => {
    const media = new FakeCallMedia(port, port, '', !(options.plainB && id.startsWith('bbbb')));
    let self: Unit;
    const calls = new CallService({
      unitId: id,
      unitName: name,
      httpPort: () => 5000,
      media,
      peers: network.locatorFor(() => self),
      localUser: (candidate) => (candidate.toLowerCase() === user.toLowerCase() ? user : undefined),
      client: network.clientFor(() => self),
      clock,
      logger,
      ringTimeoutMs: options.ringTimeoutMs ?? 30_000,
      peerLostMs: options.peerLostMs ?? 4000,
      keyExchange: new CallKeyExchange(TEST_SITE_SECRET),
      newCallId: () => callIds.shift() ?? `${id}-call-${Math.random()}`,
    });
    self = { id, name, url: `http://${name}`, user, calls, media };
    network.units.set(self.url, self);
    return self;
  };
  const a = make('aaaaaaaa-unit', 'A', 'Kitchen', 40001, ['zzzzzzzz-from-a']);
  const b = make('bbbbbbbb-unit', 'B', 'Door', 40002, ['aaaaaaaa-from-b']);
  return { clock, network, a, b };
}

test('ring timeout: after exactly ringTimeoutMs both sides end with ring-timeout', async (t) => {
  const { clock, a, b } = pair({ ringTimeoutMs: 30_000 });
  const call = await a.calls.initiate('Kitchen', 'Door');
  t.is(call.phase, 'ringing');
  await clock.advance(29_999);
  t.is(a.calls.current()?.phase, 'ringing');
  t.is(b.calls.current()?.phase, 'ringing');
  await clock.advance(1);
  t.like(a.calls.get(call.id), { phase: 'ended', endReason: 'ring-timeout', ringingMs: 30_000 });
  t.like(b.calls.get(call.id), { phase: 'ended', endReason: 'ring-timeout' });
  t.deepEqual(a.media.log, []);
  t.is(clock.pendingTimers, 0, 'no timers left behind');
});

test('an offer whose answer never came back: the caller ends it unreachable and tells the callee, which stops ringing', async (t) => {
  const { clock, network, a, b } = pair({ ringTimeoutMs: 30_000 });
  network.loseOfferAnswers = true;
  const call = await a.calls.initiate('Kitchen', 'Door');
  t.like(call, { phase: 'ended', endReason: 'unreachable' });
  await settle();
  t.like(b.calls.get(call.id), { phase: 'ended', endReason: 'unreachable' });
  t.is(b.calls.current(), null);
  t.is(clock.pendingTimers, 0, 'no ring timer left on the callee');
});

test('accepting stops the ring timer', async (t) => {
  const { clock, a, b } = pair({ ringTimeoutMs: 30_000 });
  const call = await a.calls.initiate('Kitchen', 'Door');
  await clock.advance(10_000);
  await b.calls.accept(call.id);
  await clock.advance(60_000);
  t.is(a.calls.current()?.phase, 'active');
  t.is(b.calls.current()?.phase, 'active');
  t.like(a.calls.current(), { ringingMs: 10_000, activeMs: 60_000 });
});

test('peer-lost: no audio and no signaling for peerLostMs ends the call on the surviving side', async (t) => {
  const { clock, network, a, b } = pair({ peerLostMs: 4000 });
  const call = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(call.id);
  a.media.msSinceLastPacket = 0;
  await clock.advance(10_000);
  t.is(a.calls.current()?.phase, 'active', 'audio flowing keeps the call up');

  network.down.add(b.url); // B's process is gone
  const silentSince = clock.now();
  const advanceSilence = async (ms: number) => {
    for (let i = 0; i < ms / 500; i++) {
      a.media.msSinceLastPacket = clock.now() - silentSince + 500;
      await clock.advance(500);
    }
  };
  await advanceSilence(3000);
  t.is(a.calls.current()?.phase, 'active', 'not yet: silence shorter than peerLostMs');
  await advanceSilence(2000);
  t.like(a.calls.get(call.id), { phase: 'ended', endReason: 'peer-lost' });
  t.true(a.media.log.includes(`stop ${call.id}`));
});

test('peer-lost probe: a peer that restarted and forgot the call ends it at once', async (t) => {
  const { clock, network, a, b } = pair({ peerLostMs: 4000 });
  const call = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(call.id);
  // B restarts: same address, no memory of the call; its audio stops.
  network.units.delete(b.url);
  const { b: fresh } = pair();
  network.units.set(b.url, { ...fresh, url: b.url });
  a.media.msSinceLastPacket = 2000;
  await clock.advance(1000);
  await settle();
  t.like(a.calls.get(call.id), { phase: 'ended', endReason: 'peer-lost' });
});

test('stats are published about once a second during an active call', async (t) => {
  const { clock, a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(call.id);
  const seen: number[] = [];
  a.calls.on('stats', (snapshot) => seen.push(snapshot.stats?.packetsReceived ?? -1));
  await clock.advance(5000);
  t.deepEqual(seen, [99, 99, 99, 99, 99]);
  a.calls.end(call.id);
  await clock.advance(5000);
  t.is(seen.length, 5, 'no stats after the call ended');
});

test('true glare: offers cross in flight; both units settle on the same single call, connected', async (t) => {
  const { clock, network, a, b } = pair();
  let release!: () => void;
  network.holdOffers = new Promise<void>((resolve) => (release = resolve));
  const fromA = a.calls.initiate('Kitchen', 'Door');
  const fromB = b.calls.initiate('Door', 'Kitchen');
  await settle();
  t.is(a.calls.current()?.direction, 'outgoing');
  t.is(b.calls.current()?.direction, 'outgoing');
  network.holdOffers = null;
  release();
  const [resultA, resultB] = await Promise.all([fromA, fromB]);
  await clock.advance(0);
  await settle();
  // Unit ids decide: aaaaaaaa-unit < bbbbbbbb-unit, so A's call wins although its call id sorts last.
  t.is(resultA.id, 'zzzzzzzz-from-a');
  t.is(resultB.id, 'zzzzzzzz-from-a', "B's initiate reports the call that survived");
  t.like(a.calls.current(), { id: 'zzzzzzzz-from-a', phase: 'active' });
  t.like(b.calls.current(), { id: 'zzzzzzzz-from-a', phase: 'active', direction: 'incoming' });
  t.like(b.calls.get('aaaaaaaa-from-b'), { phase: 'ended', endReason: 'busy', supersededBy: 'zzzzzzzz-from-a' });
  t.deepEqual([...a.media.started.keys()], ['zzzzzzzz-from-a']);
  t.deepEqual([...b.media.started.keys()], ['zzzzzzzz-from-a']);
});

test('calling back a unit that is ringing us answers its call instead of glaring', async (t) => {
  const { a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  const back = await b.calls.initiate('Door', 'Kitchen');
  t.is(back.id, call.id);
  t.is(back.phase, 'active');
  t.is(a.calls.current()?.phase, 'active');
});

test('accept is only for the callee; concurrent accepts share one exchange', async (t) => {
  const { a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  t.throws(() => a.calls.accept(call.id), { instanceOf: CallError, message: /only the unit being called/ });
  const [first, second] = await Promise.all([b.calls.accept(call.id), b.calls.accept(call.id)]);
  t.is(first.phase, 'active');
  t.is(second.phase, 'active');
  t.is(b.media.log.filter((line) => line.startsWith('prepare')).length, 1);
});

test('accepting after the caller vanished ends the call unreachable and releases media', async (t) => {
  const { network, a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  network.down.add(a.url);
  const result = await b.calls.accept(call.id);
  t.like(result, { phase: 'ended', endReason: 'unreachable' });
  t.deepEqual(b.media.log, [`prepare ${call.id}`, `stop ${call.id}`]);
});

test("accepting a call the caller already ended (its notice was lost) ends it with the caller's reason", async (t) => {
  const { network, a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  network.down.add(b.url);
  a.calls.end(call.id);
  await settle();
  network.down.delete(b.url);
  t.is(b.calls.current()?.phase, 'ringing', 'B never heard the cancel');
  const result = await b.calls.accept(call.id);
  t.like(result, { phase: 'ended', endReason: 'hung-up' });
  t.deepEqual(b.media.log, [`prepare ${call.id}`, `stop ${call.id}`]);
  t.deepEqual(a.media.log, []);
});

test("each side's media gets the other's own SRTP keys, which never travel in the clear", async (t) => {
  const { network, a, b } = pair();
  const sent: string[] = [];
  const client = network.clientFor(() => a);
  const recording = network.clientFor(() => b);
  // Record every message as it would go on the wire (JSON), both ways.
  for (const [unit, inner] of [[a, client], [b, recording]] as const) {
    (unit.calls as unknown as { options: { client: typeof inner } }).options.client = {
      offer: async (target, offer) => (sent.push(JSON.stringify(offer)), record(await inner.offer(target, offer))),
      accept: async (target, callId, media) => (sent.push(JSON.stringify(media)), record(await inner.accept(target, callId, media))),
      end: (target, callId, reason) => inner.end(target, callId, reason),
      callState: (target, callId) => inner.callState(target, callId),
    };
  }
  function record<T>(result: T): T {
    sent.push(JSON.stringify(result));
    return result;
  }
  const call = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(call.id);
  const keysOf = (unit: Unit) => unit.media.preparedFor(call.id)!.crypto!;
  t.deepEqual(a.media.started.get(call.id)!.crypto, keysOf(b), "A receives under B's keys");
  t.deepEqual(b.media.started.get(call.id)!.crypto, keysOf(a), "B receives under A's keys");
  const wire = sent.join('\n');
  t.regex(wire, /"keyShare":"[A-Za-z0-9_-]{43}"/);
  for (const unit of [a, b]) t.false(wire.includes(keysOf(unit).keyParams.slice('inline:'.length)), `${unit.name}'s key is not on the wire`);
});

test('a sealed key that was tampered with, or plain RTP on one side only, ends the call on both sides: media-failed, no audio', async (t) => {
  const plain = pair({ plainB: true });
  const call = await plain.a.calls.initiate('Kitchen', 'Door');
  const refused = await plain.b.calls.accept(call.id).catch((error: CallError) => error.call);
  t.like(refused, { phase: 'ended', endReason: 'media-failed' });
  await settle();
  t.like(plain.a.calls.get(call.id), { phase: 'ended', endReason: 'media-failed' });
  t.like(plain.b.calls.get(call.id), { phase: 'ended', endReason: 'media-failed' });
  t.is(plain.a.media.started.size + plain.b.media.started.size, 0);

  const { network, a, b } = pair();
  const inner = network.clientFor(() => b);
  (b.calls as unknown as { options: { client: ReturnType<typeof network.clientFor> } }).options.client = {
    ...inner,
    accept: (target, callId, media) => {
      const wrapped = media.srtp!.wrappedKey;
      // One bit of the sealed key flipped on the way.
      const flipped = (wrapped[10] === 'A' ? 'B' : 'A') + wrapped.slice(11);
      return inner.accept(target, callId, { ...media, srtp: { ...media.srtp!, wrappedKey: wrapped.slice(0, 10) + flipped } });
    },
  };
  const tampered = await a.calls.initiate('Kitchen', 'Door');
  const answered = await b.calls.accept(tampered.id).catch((error: CallError) => error.call);
  await settle();
  t.like(a.calls.get(tampered.id), { phase: 'ended' }, 'the caller refused the keys it could not open');
  t.like(answered, { phase: 'ended' });
  t.is(a.media.started.size, 0);
});

test('audio that fails after the call went active (a codec that cannot load) ends the call on both sides: media-failed', async (t) => {
  const { a, b } = pair();
  b.media.startFailure = new Error('the Opus addon could not be loaded');
  const call = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(call.id);
  await settle();
  t.like(b.calls.get(call.id), { phase: 'ended', endReason: 'media-failed' }, 'the unit whose audio failed ended the call');
  t.like(a.calls.get(call.id), { phase: 'ended', endReason: 'media-failed' }, 'and told the other unit, which ended it too');
  t.is(a.media.started.size + b.media.started.size, 0, 'no audio runs on either side');
  t.is(a.calls.current(), null);
  t.is(b.calls.current(), null);

  // With audio that starts, the next call stays up.
  b.media.startFailure = null;
  const next = await a.calls.initiate('Kitchen', 'Door');
  await b.calls.accept(next.id);
  await settle();
  t.like(a.calls.get(next.id), { phase: 'active' });
  t.like(b.calls.get(next.id), { phase: 'active' });
});

test('only the unit a call is with can accept, end or probe it', async (t) => {
  const { a, b } = pair();
  const call = await a.calls.initiate('Kitchen', 'Door');
  const stranger = 'cccccccc-unit';
  t.throws(() => b.calls.handleRemoteEnd(call.id, 'hung-up', stranger), { instanceOf: CallError, message: /no call/ });
  t.throws(() => b.calls.handleStateQuery(call.id, stranger), { instanceOf: CallError, message: /no call/ });
  t.throws(() => a.calls.handleRemoteAccept(call.id, { udpPort: 9, format: 'rtp-opus', ssrc: 1, frameMs: 20 }, stranger), { instanceOf: CallError, message: /no call/ });
  t.is(b.calls.current()?.phase, 'ringing');
  await t.throwsAsync(b.calls.handleOffer({ callId: 'dddddddd-0000', caller: { user: 'Kitchen', unitId: a.id, unitName: 'A', httpPort: 5000 }, callee: { user: 'Door' } }, { unitId: stranger, host: '127.0.0.1' }), {
    message: /names another unit as the caller/,
  });
});
