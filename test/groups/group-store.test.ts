import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GroupStore, type GroupRecord } from '../../src/groups/group-store.js';
import { batches, GROUP_BATCH_BYTES } from '../../src/groups/group-sync.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-groups-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const record = (fields: Partial<GroupRecord>): GroupRecord => ({ name: 'Reception', members: ['A'], updatedAt: 1000, updatedBy: 'unit-b', deleted: false, ...fields });

test('last writer wins by time, then by unit id, whatever order the versions arrive in; a tombstone beats an older version', async (t) => {
  const orders = [
    [record({ members: ['Old'], updatedAt: 1000 }), record({ members: ['New'], updatedAt: 2000, updatedBy: 'unit-a' }), record({ members: ['Tie'], updatedAt: 2000, updatedBy: 'unit-c' })],
  ];
  orders.push([...orders[0]!].reverse());
  for (const versions of orders) {
    const store = new GroupStore({ dataDir: await tempDir(t), unitId: 'unit-x' });
    await store.load();
    for (const version of versions) await store.merge([version], version.updatedBy);
    t.deepEqual(store.get('reception')?.members, ['Tie']);
  }
  const store = new GroupStore({ dataDir: await tempDir(t), unitId: 'unit-x' });
  await store.merge([record({ updatedAt: 5 })], 'unit-b');
  await store.merge([record({ updatedAt: 6, members: [], deleted: true })], 'unit-b');
  t.deepEqual(await store.merge([record({ updatedAt: 5, members: ['Back'] })], 'unit-c'), [], 'the older version is not news');
  t.is(store.get('Reception'), null);
  t.is(store.all().length, 1, 'the tombstone is kept to pass on');
});

test('a change made here always wins over the version it replaces, even with a clock behind it; it is on disk when put() resolves', async (t) => {
  const dir = await tempDir(t);
  let now = 10_000;
  const store = new GroupStore({ dataDir: dir, unitId: 'unit-x', wallClock: () => now });
  await store.merge([record({ updatedAt: 50_000 })], 'unit-b');
  now = 20_000;
  const group = await store.put(' Reception ', ['Desk', 'desk', 'Caretaker']);
  t.deepEqual(group.members, ['Desk', 'Caretaker'], 'members once each, first spelling');
  const onDisk = JSON.parse(await readFile(path.join(dir, 'groups.json'), 'utf8'));
  t.like(onDisk.groups[0], { name: 'Reception', members: ['Desk', 'Caretaker'], updatedAt: 50_001, updatedBy: 'unit-x' });
  const again = new GroupStore({ dataDir: dir, unitId: 'unit-x' });
  await again.load();
  t.deepEqual(again.list(), store.list());
  await t.throwsAsync(store.put('Big', Array.from({ length: 200 }, (_, index) => `${'é'.repeat(36)}${index}`)), { message: /too large/ });
});

test('a corrupt groups file is kept aside and the unit starts without groups', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'groups.json'), '{"version": 1, "groups": [{"name": 3}]}');
  const store = new GroupStore({ dataDir: dir, unitId: 'unit-x' });
  await store.load();
  t.deepEqual(store.list(), []);
  await store.put('Reception', ['A']);
  t.is(store.list().length, 1);
});

test('the exchange is split into requests under the body limit', (t) => {
  const many = Array.from({ length: 40 }, (_, index) => record({ name: `Group ${index}`, members: Array.from({ length: 30 }, (_, member) => `Member number ${member}`) }));
  const split = batches(many);
  t.true(split.length > 1);
  t.deepEqual(split.flat(), many);
  for (const batch of split) t.true(Buffer.byteLength(JSON.stringify({ groups: batch })) < 16 * 1024 && Buffer.byteLength(JSON.stringify(batch)) <= GROUP_BATCH_BYTES + 2);
  t.deepEqual(batches([]), [[]], 'an empty set still makes one exchange (to hear the other side)');
});
