import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { CallHistory, CALL_HISTORY_FILE, isMissed } from '../../src/history/call-history.js';
import type { CallSnapshot } from '../../src/calls/call-service.js';
import { captureLogger } from '../support/fake-gpio.js';

// The call history on its own: which call events become entries, the 200 limit, and what a damaged
// or unwritable file does (a log line, never a crash, never a lost call that is still in memory).

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'intercom-history-'));
  // Retried: a write the test did not wait for may still be renaming its temp file in there.
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

let nextId = 1;
function snapshot(fields: Partial<CallSnapshot> = {}): CallSnapshot {
  const id = fields.id ?? `call-${String(nextId++).padStart(8, '0')}`;
  return {
    id,
    direction: 'incoming',
    phase: 'ended',
    endReason: 'hung-up',
    caller: { user: 'Kitchen', unitId: 'unit-aaaaaaaa', unitName: 'A' },
    callee: { user: 'Front door', unitId: 'unit-bbbbbbbb', unitName: 'B' },
    createdAt: '2026-12-05T10:00:00.000Z',
    ringingMs: 1500,
    activeMs: 42_000,
    supersededBy: null,
    group: null,
    stats: null,
    ...fields,
  };
}

test('only ended calls are recorded, newest first, with who, direction, durations, reason and missed', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger();
  const history = new CallHistory({ dataDir: dir, logger, wallClock: () => new Date('2026-12-05T10:00:43.500Z') });
  await history.load();
  const calls = new EventEmitter<{ call: [CallSnapshot] }>();
  const detach = history.attach(calls);

  calls.emit('call', snapshot({ id: 'live-00000001', phase: 'ringing', endReason: null, activeMs: null }));
  calls.emit('call', snapshot({ id: 'live-00000001', phase: 'active', endReason: null }));
  t.deepEqual(history.list(), [], 'a live call is not history yet');
  calls.emit('call', snapshot({ id: 'live-00000001' }));
  calls.emit('call', snapshot({ id: 'glare-0000001', direction: 'outgoing', endReason: 'busy', activeMs: null, supersededBy: 'live-00000002' }));
  calls.emit('call', snapshot({ id: 'missed-000001', activeMs: null, ringingMs: 30_000, endReason: 'ring-timeout' }));
  detach();
  calls.emit('call', snapshot({ id: 'after-detach1' }));

  t.deepEqual(history.list(), [
    {
      id: 'missed-000001',
      direction: 'incoming',
      caller: { user: 'Kitchen', unitId: 'unit-aaaaaaaa', unitName: 'A' },
      callee: { user: 'Front door', unitId: 'unit-bbbbbbbb', unitName: 'B' },
      startedAt: '2026-12-05T10:00:00.000Z',
      endedAt: '2026-12-05T10:00:43.500Z',
      ringingMs: 30_000,
      talkMs: null,
      endReason: 'ring-timeout',
      missed: true,
    },
    {
      id: 'live-00000001',
      direction: 'incoming',
      caller: { user: 'Kitchen', unitId: 'unit-aaaaaaaa', unitName: 'A' },
      callee: { user: 'Front door', unitId: 'unit-bbbbbbbb', unitName: 'B' },
      startedAt: '2026-12-05T10:00:00.000Z',
      endedAt: '2026-12-05T10:00:43.500Z',
      ringingMs: 1500,
      talkMs: 42_000,
      endReason: 'hung-up',
      missed: false,
    },
  ]);
  t.deepEqual(history.counts(), { total: 2, missed: 1, capacity: 200 });
  t.deepEqual(history.list({ missedOnly: true }).map((call) => call.id), ['missed-000001']);
  t.deepEqual(history.list({ limit: 1 }).map((call) => call.id), ['missed-000001']);
  await history.flush();
});

test('missed: an incoming call that ended unanswered and was not refused here', (t) => {
  t.true(isMissed({ direction: 'incoming', activeMs: null, endReason: 'ring-timeout' }));
  t.true(isMissed({ direction: 'incoming', activeMs: null, endReason: 'hung-up' }), 'the caller gave up');
  t.true(isMissed({ direction: 'incoming', activeMs: null, endReason: 'peer-lost' }));
  t.false(isMissed({ direction: 'incoming', activeMs: null, endReason: 'rejected' }), 'refused on purpose');
  t.false(isMissed({ direction: 'incoming', activeMs: 10, endReason: 'hung-up' }), 'answered');
  t.false(isMissed({ direction: 'outgoing', activeMs: null, endReason: 'ring-timeout' }), 'our own call nobody answered');
});

test('the history keeps the last 200 calls across a reload, and the same call twice is one entry', async (t) => {
  const dir = await tempDir(t);
  const { logger } = captureLogger();
  const history = new CallHistory({ dataDir: dir, logger });
  await history.load();
  const ids = Array.from({ length: 205 }, (_, index) => `call-${String(index).padStart(8, '0')}`);
  for (const id of ids) history.record(snapshot({ id }));
  history.record(snapshot({ id: ids[204], endReason: 'peer-lost' }));
  await history.flush();
  t.is(history.list().length, 200);

  const reloaded = new CallHistory({ dataDir: dir, logger });
  await reloaded.load();
  const kept = reloaded.list().map((call) => call.id);
  t.deepEqual(kept, ids.slice(5).reverse(), 'newest first; the five oldest are forgotten');
  t.is(reloaded.list()[0].endReason, 'peer-lost', 'the later event of a call replaces its entry');
  t.deepEqual(await readdir(dir), [CALL_HISTORY_FILE], 'no temp files left');
});

for (const [what, content] of [
  ['truncated mid-write', '{"version":1,"calls":[{"id":"call-00000001","direction":"inc'],
  ['not JSON at all', '\u0000\u0000\u0000garbage'],
  ['of another shape', '{"calls": "none"}'],
  ['empty', ''],
] as const) {
  test(`a history file that is ${what} is kept aside with a log line, and the unit records calls again`, async (t) => {
    const dir = await tempDir(t);
    await writeFile(path.join(dir, CALL_HISTORY_FILE), content);
    const { logger, lines } = captureLogger();
    const history = new CallHistory({ dataDir: dir, logger });
    await t.notThrowsAsync(history.load());
    t.deepEqual(history.list(), []);
    const logged = lines.find((line) => line.msg.startsWith('call history file is corrupt'));
    t.truthy(logged, 'says so in the log');
    t.is(logged?.level, 50);
    const keptAs = String(logged?.keptAs);
    t.is(await readFile(keptAs, 'utf8'), content, 'the damaged file is kept for inspection');

    history.record(snapshot({ id: 'call-after-01' }));
    await history.flush();
    const reloaded = new CallHistory({ dataDir: dir, logger });
    await reloaded.load();
    t.deepEqual(reloaded.list().map((call) => call.id), ['call-after-01']);
  });
}

test('damaged entries are dropped (the file is copied aside first), the good ones are kept', async (t) => {
  const dir = await tempDir(t);
  const good = {
    id: 'call-good-001',
    direction: 'outgoing',
    caller: { user: 'Kitchen', unitId: 'unit-aaaaaaaa', unitName: 'A' },
    callee: { user: 'Front door', unitId: 'unit-bbbbbbbb', unitName: 'B' },
    startedAt: '2026-12-05T10:00:00.000Z',
    endedAt: '2026-12-05T10:01:00.000Z',
    ringingMs: 2000,
    talkMs: 58_000,
    endReason: 'hung-up',
    missed: false,
  };
  const file = { version: 1, calls: [good, { ...good, id: 'call-bad-0001', talkMs: 'long' }, null, { ...good, id: 'call-bad-0002', extra: 1 }] };
  await writeFile(path.join(dir, CALL_HISTORY_FILE), JSON.stringify(file));
  const { logger, lines } = captureLogger();
  const history = new CallHistory({ dataDir: dir, logger });
  await history.load();
  t.deepEqual(history.list(), [good]);
  const logged = lines.find((line) => line.msg.includes('damaged entries dropped'));
  t.like(logged, { level: 40, dropped: 3, kept: 1 });
  t.deepEqual(JSON.parse(await readFile(String(logged?.keptAs), 'utf8')), file);
});

test('a history that cannot be written is logged once, kept in memory, and saved with the next call', async (t) => {
  const dir = await tempDir(t);
  const { logger, lines } = captureLogger();
  const history = new CallHistory({ dataDir: dir, logger });
  await history.load();
  // A directory where the file should be: every rename onto it fails (root ignores permissions).
  const blocker = path.join(dir, CALL_HISTORY_FILE);
  await mkdir(path.join(blocker, 'in-the-way'), { recursive: true });

  t.notThrows(() => history.record(snapshot({ id: 'call-disk-001' })));
  history.record(snapshot({ id: 'call-disk-002' }));
  await history.flush();
  t.is(lines.filter((line) => line.msg.startsWith('call history could not be saved')).length, 1, 'one log line per failing spell');
  t.deepEqual(history.list().map((call) => call.id), ['call-disk-002', 'call-disk-001']);
  await t.throwsAsync(history.clear(), undefined, 'clearing reports the failure');
  t.is(history.list().length, 2, 'and changes nothing');

  await rm(blocker, { recursive: true });
  history.record(snapshot({ id: 'call-disk-003' }));
  await history.flush();
  t.truthy(lines.find((line) => line.msg === 'call history saved again'));
  const reloaded = new CallHistory({ dataDir: dir, logger });
  await reloaded.load();
  t.deepEqual(reloaded.list().map((call) => call.id), ['call-disk-003', 'call-disk-002', 'call-disk-001'], 'nothing was lost');
});
