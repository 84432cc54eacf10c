import test from 'ava';
import { PagingService, type PageView, type PagingServiceOptions } from '../../src/paging/paging-service.js';
import type { PageMedia, PagePlayoutRequest } from '../../src/paging/page-media.js';
import { CallKeyExchange } from '../../src/security/call-key-exchange.js';
import { createLogger } from '../../src/logging/logger.js';

// Which path a page takes to each member, decided by what the member reports hearing: a member
// that hears the multicast stream stays on it alone, one that listens but hears nothing within
// multicastAckMs gets unicast (from the first frame on, so it loses nothing), one whose multicast
// stops mid-page moves to unicast, and one that stops reporting is dropped while the others go on. Real PagingServices on both sides; the requests
// between them and the network are doubles that count what would be sent where.

const SITE = 'paging-paths-test-site-secret-0123456789';
const GROUP = { address: '239.255.43.21', port: 40002 };

/** What a member's socket would have counted: multicast packets, and when the last packet of any path came. */
type Reception = () => { msSinceLastPacket: number | null; multicastPackets: number };

class CountingMedia implements PageMedia {
  readonly unicastTo = new Map<number, number>();
  readonly lastUnicastAt = new Map<number, number>();
  multicastSent = 0;
  lastMulticastAt: number | null = null;
  playing: PagePlayoutRequest | null = null;
  constructor(
    readonly mediaPort: number,
    readonly multicast: boolean,
    private readonly reception: Reception = () => ({ msSinceLastPacket: null, multicastPackets: 0 }),
  ) {}
  sendPageDatagram(_datagram: Buffer, port: number): void {
    this.unicastTo.set(port, (this.unicastTo.get(port) ?? 0) + 1);
    this.lastUnicastAt.set(port, performance.now());
  }
  captureForPage(): void {}
  sendPageMulticast(): boolean {
    this.multicastSent += 1;
    this.lastMulticastAt = performance.now();
    return true;
  }
  async playPage(request: PagePlayoutRequest): Promise<void> {
    this.playing = request;
  }
  stopPage(): void {
    this.playing = null;
  }
  pageReception() {
    return this.playing ? this.reception() : null;
  }
}

/** A member at `port` of the origin's page: it hears the origin's multicast until `cut()`, and whatever the origin unicasts to it. */
function member(origin: CountingMedia, port: number, hearsMulticast: boolean) {
  let cutAt: { packets: number; at: number } | null = hearsMulticast ? null : { packets: 0, at: -Infinity };
  const reception: Reception = () => {
    const multicastPackets = cutAt?.packets ?? origin.multicastSent;
    const lastMulticast = cutAt === null ? origin.lastMulticastAt : multicastPackets > 0 ? cutAt.at : null;
    const lastPacket = Math.max(lastMulticast ?? -Infinity, origin.lastUnicastAt.get(port) ?? -Infinity);
    return { msSinceLastPacket: Number.isFinite(lastPacket) ? performance.now() - lastPacket : null, multicastPackets };
  };
  const media = new CountingMedia(port, true, reception);
  return {
    media,
    /** The network stops passing the multicast group to this member. */
    cut: () => (cutAt = { packets: origin.multicastSent, at: origin.lastMulticastAt ?? performance.now() }),
  };
}

const until = async (what: string, check: () => boolean, timeoutMs = 3000) => {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

function pagingSite(t: { teardown(fn: () => void): void }) {
  const logger = createLogger({ level: 'silent' });
  const originMedia = new CountingMedia(40_000, true);
  const services = new Map<string, PagingService>();
  const common = (unitId: string, media: PageMedia): PagingServiceOptions => ({
    unitId,
    unitName: unitId,
    media,
    frameMs: 20,
    bitrate: 24_000,
    logger,
    keyExchange: new CallKeyExchange(SITE),
    unitState: () => ({ call: 'idle', doNotDisturb: false }),
    multicastGroup: GROUP,
    multicastAckMs: 300,
    // Members report about once a second.
    memberSilentMs: 1500,
    groups: { get: (name) => (name === 'All flats' ? { name, members: ['hears-multicast', 'misses-multicast'] } : null) },
    directory: { findUser: (name) => ({ unitId: name, unitName: name, local: false, online: true }), baseUrlOf: (id) => `http://${id}.invalid:5000` },
    client: {
      pageOffer: async (target, offer) => ({ kind: 'ok', from: target.unitId!, value: services.get(target.unitId!)!.receiveOffer(offer, unitId, '10.0.0.1') }),
      pageKey: async (target, pageId, wrapped) => ({ kind: 'ok', from: target.unitId!, value: await services.get(target.unitId!)!.receiveKey(pageId, unitId, wrapped) }),
      pageEnd: async (target, pageId) => ({ kind: 'ok', from: target.unitId!, value: services.get(target.unitId!)!.receiveEnd(pageId, unitId) }),
      pageHeard: async (target, pageId, packets) => ({ kind: 'ok', from: target.unitId!, value: services.get(target.unitId!)!.receiveHeard(pageId, unitId, packets) }),
    },
  });
  const hearing = member(originMedia, 40_001, true);
  const missing = member(originMedia, 40_002, false);
  services.set('origin', new PagingService(common('origin', originMedia)));
  services.set('hears-multicast', new PagingService(common('hears-multicast', hearing.media)));
  services.set('misses-multicast', new PagingService(common('misses-multicast', missing.media)));
  const origin = services.get('origin')!;
  t.teardown(() => [...services.values()].forEach((service) => service.stop()));
  const viaOf = () => Object.fromEntries((origin.status().outgoing as PageView).members.map((entry) => [entry.unitName, entry.via ?? entry.outcome]));
  return { origin, services, originMedia, hearing, missing, viaOf };
}

test('a member that hears the multicast stream stays on it alone, one that does not gets unicast, one that goes silent is dropped', async (t) => {
  const { origin, services, originMedia, hearing, viaOf } = pagingSite(t);
  let frames = 0;
  const page = await origin.startPage('All flats', 'announcement', { nextFrame: (samples) => (frames++ < 500 ? new Int16Array(samples) : null) });
  t.deepEqual(page.members.map((entry) => [entry.unitName, entry.outcome, entry.via]), [
    ['hears-multicast', 'playing', 'both'],
    ['misses-multicast', 'playing', 'both'],
  ]);
  await until('both paths decided', () => viaOf()['hears-multicast'] === 'multicast' && viaOf()['misses-multicast'] === 'unicast');
  // From here the multicast member gets no unicast copies; the other one does, frame after frame.
  const [toHearing, toMissing, multicast] = [originMedia.unicastTo.get(40_001) ?? 0, originMedia.unicastTo.get(40_002) ?? 0, originMedia.multicastSent];
  await until('ten more frames', () => originMedia.multicastSent >= multicast + 10);
  t.is(originMedia.unicastTo.get(40_001), toHearing, 'no unicast to the member on multicast');
  t.true(originMedia.unicastTo.get(40_002)! >= toMissing + 10, 'unicast to the member that misses multicast');
  t.true(toMissing >= originMedia.multicastSent - 20 - 10, 'it got unicast from the first frame on');

  // The member on unicast goes silent (unplugged): dropped; the other stays.
  services.get('misses-multicast')!.stop();
  await until('the silent member dropped', () => viaOf()['misses-multicast'] === 'dropped');
  t.is(viaOf()['hears-multicast'], 'multicast');
  t.not(hearing.media.playing, null, 'the member that hears goes on playing');
  origin.endPage();
  t.is(hearing.media.playing, null, 'and stops when the page ends');
});

test('a member whose multicast stops mid-page gets unicast from then on and plays to the end, instead of being dropped', async (t) => {
  const { origin, originMedia, hearing, viaOf } = pagingSite(t);
  let frames = 0;
  await origin.startPage('All flats', 'announcement', { nextFrame: (samples) => (frames++ < 500 ? new Int16Array(samples) : null) });
  await until('the member on multicast', () => viaOf()['hears-multicast'] === 'multicast');
  await until('a second on multicast alone', () => frames >= 75);
  const unicastBefore = originMedia.unicastTo.get(40_001) ?? 0;
  // A switch stops passing the group to the member (IGMP snooping, a Wi-Fi that drops multicast).
  hearing.cut();
  const cutAt = performance.now();
  await until('the member moved to unicast', () => viaOf()['hears-multicast'] === 'unicast');
  t.log(`moved to unicast ${(performance.now() - cutAt).toFixed(0)} ms after its multicast stopped`);
  // Past the member's silence limit (1.5 s) and the origin's: it still plays, fed by unicast.
  await until('two seconds later', () => performance.now() - cutAt > 2000, 3000);
  t.is(viaOf()['hears-multicast'], 'unicast');
  t.not(hearing.media.playing, null, 'the member plays on');
  t.true(originMedia.unicastTo.get(40_001)! >= unicastBefore + 50, 'and gets the page by unicast, frame after frame');
  origin.endPage();
  t.is(hearing.media.playing, null);
});
