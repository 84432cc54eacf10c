import test from 'ava';
import { PagingService, type PageSource } from '../../src/paging/paging-service.js';
import type { PageMedia, PagePlayoutRequest } from '../../src/paging/page-media.js';
import { CallKeyExchange } from '../../src/security/call-key-exchange.js';
import { createLogger } from '../../src/logging/logger.js';
import { formatSrtpKeyParams } from '../../src/media/srtp.js';

// The key of a page as an eavesdropper on the LAN sees it: everything the two units say to each
// other (offers, answers, the key request) is recorded, and the page's SRTP master key and salt,
// taken from what the member's media engine was handed, must appear in none of it in any
// encoding. The key is fresh for every page.

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const SITE_SECRET = 'paging-key-test-site-secret-0123456789';

class RecordingPageMedia implements PageMedia {
  readonly mediaPort = 40_123;
  readonly multicast = false;
  captureForPage(): void {}
  sendPageMulticast(): boolean {
    return false;
  }
  readonly played: PagePlayoutRequest[] = [];
  readonly sent: Buffer[] = [];
  sendPageDatagram(datagram: Buffer): void {
    this.sent.push(datagram);
  }
  async playPage(request: PagePlayoutRequest): Promise<void> {
    this.played.push(request);
  }
  stopPage(): void {}
  pageReception() {
    return { msSinceLastPacket: 0, multicastPackets: 0 };
  }
}

const silence = (frames: number): PageSource => {
  let left = frames;
  return { nextFrame: (samples) => (left-- > 0 ? new Int16Array(samples) : null) };
};

function pair() {
  const wire: string[] = [];
  const logger = createLogger({ level: 'silent' });
  const originMedia = new RecordingPageMedia();
  const memberMedia = new RecordingPageMedia();
  const record = <T>(value: T): T => {
    wire.push(JSON.stringify(value));
    return value;
  };
  let member: PagingService;
  const common = { multicastGroup: null, multicastAckMs: 500, frameMs: 20, bitrate: 24_000, logger, keyExchange: new CallKeyExchange(SITE_SECRET), unitState: () => ({ call: 'idle' as const, doNotDisturb: false }) };
  const origin = new PagingService({
    ...common,
    unitId: 'origin-unit-0001',
    unitName: 'Caretaker',
    media: originMedia,
    groups: { get: (name) => (name === 'All flats' ? { name, members: ['Flat 1'] } : null) },
    directory: { findUser: () => ({ unitId: 'member-unit-0001', unitName: 'Flat 1', local: false, online: true }), baseUrlOf: () => 'http://127.0.0.1:5001' },
    client: {
      pageOffer: async (_target, offer) => ({ kind: 'ok', from: 'member-unit-0001', value: record(member.receiveOffer(record(offer), 'origin-unit-0001', '127.0.0.1')) }),
      pageKey: async (_target, pageId, wrappedKey) => ({ kind: 'ok', from: 'member-unit-0001', value: record(await member.receiveKey(pageId, 'origin-unit-0001', record(wrappedKey))) }),
      pageEnd: async (_target, pageId) => ({ kind: 'ok', from: 'member-unit-0001', value: member.receiveEnd(pageId, 'origin-unit-0001') }),
      pageHeard: async () => ({ kind: 'ok', from: 'member-unit-0001', value: { via: 'unicast' } }),
    },
  });
  member = new PagingService({
    ...common,
    unitId: 'member-unit-0001',
    unitName: 'Flat 1',
    media: memberMedia,
    groups: { get: () => null },
    directory: { findUser: () => null, baseUrlOf: () => null },
    client: origin as never,
  });
  return { origin, member, memberMedia, wire };
}

test('the per-page key never travels in clear, and every page has its own', async (t) => {
  const { origin, member, memberMedia, wire } = pair();
  for (let i = 0; i < 2; i += 1) {
    const page = await origin.startPage('All flats', 'announcement', silence(3));
    t.deepEqual(page.members.map((m) => m.outcome), ['playing']);
    origin.endPage(page.id);
  }
  t.is(memberMedia.played.length, 2);
  const [first, second] = memberMedia.played.map((played) => played.keys);
  t.notDeepEqual(first.masterKey, second.masterKey, 'a fresh key per page');
  const everything = wire.join('\n');
  for (const keys of [first, second]) {
    const encodings = [b64(keys.masterKey), Buffer.from(keys.masterKey).toString('base64url'), Buffer.from(keys.masterKey).toString('hex'), b64(keys.masterSalt), Buffer.from(keys.masterSalt).toString('hex'), formatSrtpKeyParams(keys)];
    for (const encoded of encodings) t.false(everything.includes(encoded), `the key is not on the wire (${encoded.slice(0, 8)}...)`);
    t.false(everything.includes(b64(keys.masterKey.subarray(0, 12))));
  }
  member.stop();
  origin.stop();
});

test('a key sealed for another member or another page does not open', async (t) => {
  const { origin, member, memberMedia } = pair();
  // A second member-to-be: same site, its own exchange; the origin's sealed key is for the first only.
  const offer = { pageId: 'page-aaaa-0001', group: 'All flats', priority: 'announcement' as const, originName: 'x', ssrc: 5, frameMs: 20, keyShare: new CallKeyExchange(SITE_SECRET).newShare().publicValue };
  t.like(member.receiveOffer(offer, 'origin-unit-0001', '127.0.0.1'), { accepted: true });
  const answer = await member.receiveKey('page-aaaa-0001', 'origin-unit-0001', 'A'.repeat(60));
  t.deepEqual(answer, { playing: false, reason: 'bad-key' });
  t.is(memberMedia.played.length, 0);
  // The key request must come from the unit the offer came from.
  t.like(member.receiveOffer({ ...offer, pageId: 'page-aaaa-0002' }, 'origin-unit-0001', '127.0.0.1'), { accepted: true });
  await t.throwsAsync(member.receiveKey('page-aaaa-0002', 'someone-else-0001', 'A'.repeat(60)), { message: /no page with this id/ });
  member.stop();
  origin.stop();
});
