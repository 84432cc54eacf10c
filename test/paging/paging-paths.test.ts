import test from 'ava';
import { PagingService, type PageView, type PagingServiceOptions } from '../../src/paging/paging-service.js';
import type { PageMedia, PagePlayoutRequest } from '../../src/paging/page-media.js';
import { CallKeyExchange } from '../../src/security/call-key-exchange.js';
import { createLogger } from '../../src/logging/logger.js';

// Which path a page takes to each member, decided by what the member reports hearing: a member
// that hears the multicast stream stays on it alone, one that listens but hears nothing within
// multicastAckMs gets unicast (from the first frame on, so it loses nothing), and one that stops
// reporting is dropped while the others go on. Real PagingServices on both sides; the requests
// between them and the network are doubles that count what would be sent where.

const SITE = 'paging-paths-test-site-secret-0123456789';
const GROUP = { address: '239.255.43.21', port: 40002 };

class CountingMedia implements PageMedia {
  readonly unicastTo = new Map<number, number>();
  multicastSent = 0;
  playing: PagePlayoutRequest | null = null;
  constructor(
    readonly mediaPort: number,
    readonly multicast: boolean,
    /** How many multicast packets this member hears (what its socket would count). */
    private readonly hearsMulticast: () => number,
  ) {}
  sendPageDatagram(_datagram: Buffer, port: number): void {
    this.unicastTo.set(port, (this.unicastTo.get(port) ?? 0) + 1);
  }
  captureForPage(): void {}
  sendPageMulticast(): boolean {
    this.multicastSent += 1;
    return true;
  }
  async playPage(request: PagePlayoutRequest): Promise<void> {
    this.playing = request;
  }
  stopPage(): void {
    this.playing = null;
  }
  pageReception() {
    return this.playing ? { msSinceLastPacket: 0, multicastPackets: this.hearsMulticast() } : null;
  }
}

const until = async (what: string, check: () => boolean, timeoutMs = 3000) => {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('a member that hears the multicast stream stays on it alone, one that does not gets unicast, one that goes silent is dropped', async (t) => {
  const logger = createLogger({ level: 'silent' });
  const originMedia = new CountingMedia(40_000, true, () => 0);
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
  const hearing = new CountingMedia(40_001, true, () => originMedia.multicastSent);
  const missing = new CountingMedia(40_002, true, () => 0);
  services.set('origin', new PagingService(common('origin', originMedia)));
  services.set('hears-multicast', new PagingService(common('hears-multicast', hearing)));
  services.set('misses-multicast', new PagingService(common('misses-multicast', missing)));
  const origin = services.get('origin')!;
  t.teardown(() => [...services.values()].forEach((service) => service.stop()));

  let frames = 0;
  const page = await origin.startPage('All flats', 'announcement', { nextFrame: (samples) => (frames++ < 500 ? new Int16Array(samples) : null) });
  t.deepEqual(page.members.map((member) => [member.unitName, member.outcome, member.via]), [
    ['hears-multicast', 'playing', 'both'],
    ['misses-multicast', 'playing', 'both'],
  ]);
  const viaOf = () => Object.fromEntries((origin.status().outgoing as PageView).members.map((member) => [member.unitName, member.via ?? member.outcome]));
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
  t.not(hearing.playing, null, 'the member that hears goes on playing');
  origin.endPage();
  t.is(hearing.playing, null, 'and stops when the page ends');
});
