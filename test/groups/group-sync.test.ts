import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GroupStore, type GroupRecord } from '../../src/groups/group-store.js';
import { GroupSync } from '../../src/groups/group-sync.js';
import type { PeerView } from '../../src/peers/peer-directory.js';

/** A directory double: the units online and the groups' digest each one's info says (null: an older unit, says none). */
class Directory extends EventEmitter<{ changed: [PeerView[]] }> {
  readonly units = new Map<string, { online: boolean; digest: string | null }>();
  peers(): PeerView[] {
    return [...this.units].map(([unitId, unit]) => ({ unitId, name: unitId, version: '1', address: '', online: unit.online, inCall: false, users: [], source: 'dns-sd', msSinceSeen: 0, clockOffsetMs: null }));
  }
  baseUrlOf(unitId: string): string {
    return `http://${unitId}`;
  }
  groupsDigestOf(unitId: string): string | null {
    return this.units.get(unitId)?.digest ?? null;
  }
  set(unitId: string, online: boolean, digest: string | null): void {
    this.units.set(unitId, { online, digest });
    this.emit('changed', this.peers());
  }
}

async function syncOn(t: { teardown(fn: () => Promise<void>): void }, records: GroupRecord[] = []) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-group-sync-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new GroupStore({ dataDir: dir, unitId: 'unit-self' });
  await store.load();
  if (records.length > 0) await store.merge(records, 'unit-other');
  const directory = new Directory();
  const exchanges: string[] = [];
  const sync = new GroupSync({
    store,
    directory,
    client: {
      syncGroups: async (target) => {
        exchanges.push(target.unitId ?? '?');
        return { kind: 'ok' as const, value: { groups: [] }, from: target.unitId ?? '?' };
      },
    },
  });
  sync.start();
  t.teardown(async () => sync.stop());
  return { store, directory, exchanges };
}

const reception: GroupRecord = { name: 'Reception', members: ['Desk'], updatedAt: 1000, updatedBy: 'unit-other', deleted: false };

test('a unit seen whose info says the same groups digest is not asked to exchange; one with another digest, or an older unit that says none, is; so 20 units back at once with the same groups cost no request', async (t) => {
  const { store, directory, exchanges } = await syncOn(t, [reception]);
  const own = store.digest();
  t.regex(own, /^[0-9a-f]{16}$/);
  for (let index = 0; index < 20; index += 1) directory.set(`unit-same-${index}`, true, own);
  t.deepEqual(exchanges, [], 'the same groups: nothing to exchange');
  directory.set('unit-behind', true, '0000000000000000');
  directory.set('unit-older', true, null);
  t.deepEqual(exchanges, ['unit-behind', 'unit-older']);

  // Gone and back with the same groups: still nothing; back with other groups: exchanged.
  directory.set('unit-same-0', false, own);
  directory.set('unit-same-0', true, own);
  directory.set('unit-same-1', false, own);
  directory.set('unit-same-1', true, 'ffffffffffffffff');
  t.deepEqual(exchanges, ['unit-behind', 'unit-older', 'unit-same-1']);
});

test('a unit already online whose digest moves to one other than this unit\'s is asked to exchange (its info came after it was seen, or it changed while the push to here was lost); moving to this unit\'s is not', async (t) => {
  const { store, directory, exchanges } = await syncOn(t, [reception]);
  directory.set('unit-b', true, store.digest());
  directory.set('unit-b', true, 'abcdefabcdefabcd');
  t.deepEqual(exchanges, ['unit-b']);
  directory.set('unit-b', true, store.digest());
  t.deepEqual(exchanges, ['unit-b'], 'caught up: nothing more');
});

test('the digest follows the groups a unit holds, tombstones included, whatever order they came in', async (t) => {
  const a = await syncOn(t);
  const b = await syncOn(t);
  t.is(a.store.digest(), b.store.digest(), 'both empty');
  const desk = { ...reception, name: 'Desk', updatedAt: 2000 };
  await a.store.merge([reception, desk], 'unit-other');
  await b.store.merge([desk], 'unit-other');
  t.not(a.store.digest(), b.store.digest());
  await b.store.merge([reception], 'unit-other');
  t.is(a.store.digest(), b.store.digest());
  await a.store.merge([{ ...desk, updatedAt: 3000, members: [], deleted: true }], 'unit-other');
  t.not(a.store.digest(), b.store.digest(), 'a deletion moves it');
});
