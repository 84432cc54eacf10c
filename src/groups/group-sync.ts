import type { Logger } from '../logging/logger.js';
import type { PeerResult, PeerTarget } from '../peers/peer-client.js';
import type { GroupSync as GroupSyncBody } from '../peers/peer-protocol.js';
import type { PeerView } from '../peers/peer-directory.js';
import type { GroupRecord, GroupStore } from './group-store.js';

/** What GroupSync needs of the site directory (PeerDirectory fits). */
export interface GroupSyncDirectory {
  peers(): PeerView[];
  baseUrlOf(unitId: string): string | null;
  /** The digest of the groups a unit said it holds (its info), or null when not known. */
  groupsDigestOf?(unitId: string): string | null;
  on(event: 'changed', listener: (peers: PeerView[]) => void): unknown;
  off(event: 'changed', listener: (peers: PeerView[]) => void): unknown;
}

export interface GroupSyncClient {
  syncGroups(target: PeerTarget, groups: GroupRecord[]): Promise<PeerResult<GroupSyncBody>>;
}

/**
 * Spreads the site's groups between units over the signed unit-to-unit channel, with no polling:
 * - a change made here, or news that was new here, is pushed to every online unit at once;
 * - when a unit is seen (found, or back online), the two exchange everything they hold, so a unit
 *   that was off or cut off when a group changed catches up the moment they see each other; unless
 *   its info says it holds the same groups (the same digest), and again whenever that digest moves
 *   to one other than this unit's while it is online.
 * Each exchange is both ways (the answer is the receiver's set) and merging is last writer wins
 * (GroupStore), so the units converge whatever the order; forwarding stops where nothing is new.
 */
export class GroupSync {
  /** The units online, with the groups' digest each one's info said when last looked at. */
  private readonly online = new Map<string, string | null>();
  private readonly onPeers = (peers: PeerView[]) => this.peersChanged(peers);
  private readonly onGroups = (records: GroupRecord[], origin: { local: boolean; fromUnitId: string | null }) =>
    this.pushToAll(records, origin.fromUnitId);
  private stopped = false;

  constructor(
    private readonly options: { store: GroupStore; directory: GroupSyncDirectory; client: GroupSyncClient; logger?: Logger },
  ) {}

  start(): void {
    this.options.directory.on('changed', this.onPeers);
    this.options.store.on('changed', this.onGroups);
    this.peersChanged(this.options.directory.peers());
  }

  stop(): void {
    this.stopped = true;
    this.options.directory.off('changed', this.onPeers);
    this.options.store.off('changed', this.onGroups);
  }

  /** Another unit sent its versions (POST /api/unit/groups): take the newer ones, answer with ours. */
  async receive(records: GroupRecord[], fromUnitId: string): Promise<GroupSyncBody> {
    await this.options.store.merge(records, fromUnitId);
    return { groups: this.options.store.all() };
  }

  /** Exchanges everything with one unit (both ways). */
  async exchangeWith(unitId: string): Promise<boolean> {
    return this.send(unitId, this.options.store.all());
  }

  private peersChanged(peers: PeerView[]): void {
    const nowOnline = new Set(peers.filter((peer) => peer.online).map((peer) => peer.unitId));
    const own = this.options.store.digest();
    const digests = new Map<string, string | null>();
    for (const unitId of nowOnline) {
      // A unit of an older version says no digest: exchanged with when seen, as before.
      const digest = this.options.directory.groupsDigestOf?.(unitId) ?? null;
      const seen = this.online.has(unitId);
      const sameGroups = digest !== null && digest === own;
      const moved = seen && digest !== null && digest !== this.online.get(unitId);
      if (!sameGroups && (!seen || moved)) void this.exchangeWith(unitId);
      digests.set(unitId, digest);
    }
    this.online.clear();
    for (const [unitId, digest] of digests) this.online.set(unitId, digest);
  }

  private pushToAll(records: GroupRecord[], except: string | null): void {
    for (const unitId of this.online.keys()) {
      if (unitId !== except) void this.send(unitId, records);
    }
  }

  private async send(unitId: string, records: GroupRecord[]): Promise<boolean> {
    // Every request body stays under the API's body limit (16 KiB): a big site's groups go in several.
    for (const batch of batches(records)) {
      if (!(await this.sendBatch(unitId, batch))) return false;
    }
    return true;
  }

  private async sendBatch(unitId: string, records: GroupRecord[]): Promise<boolean> {
    if (this.stopped) return false;
    const baseUrl = this.options.directory.baseUrlOf(unitId);
    if (!baseUrl) return false;
    const result = await this.options.client.syncGroups({ baseUrl, unitId }, records);
    if (result.kind !== 'ok') {
      // It is caught up when it is next seen (offline, then online again).
      this.options.logger?.warn({ unitId, result: result.kind, message: result.message }, 'could not exchange call groups with a unit');
      return false;
    }
    if (this.stopped) return true;
    await this.options.store.merge(result.value.groups, unitId).catch((error: Error) => this.options.logger?.error({ err: error }, 'could not store call groups from a unit'));
    return true;
  }
}

/** Bytes of groups per exchange request: well under the API's 16 KiB body limit (a full 200-member group is about 9 KB). */
export const GROUP_BATCH_BYTES = 12_000;

/** Splits the records into requests of at most GROUP_BATCH_BYTES of JSON each (an empty set still makes one exchange). */
export function batches(records: GroupRecord[]): GroupRecord[][] {
  const out: GroupRecord[][] = [[]];
  let size = 0;
  for (const record of records) {
    const bytes = Buffer.byteLength(JSON.stringify(record)) + 1;
    if (size + bytes > GROUP_BATCH_BYTES && out.at(-1)!.length > 0) {
      out.push([]);
      size = 0;
    }
    out.at(-1)!.push(record);
    size += bytes;
  }
  return out;
}
