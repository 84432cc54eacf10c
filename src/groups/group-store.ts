import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { matchesSchema } from '../system/schema-check.js';
import type { Logger } from '../logging/logger.js';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';
import { userKey } from '../users/user-store.js';

export const GROUP_NAME_MAX = 40;
export const GROUP_MEMBERS_MAX = 200;

/**
 * One group as every unit keeps it. A deleted group stays as a tombstone (`deleted`, no members),
 * so a unit that was offline when it was deleted does not bring it back. Which version wins is
 * decided by `updatedAt` (the changing unit's wall clock, ms), then `updatedBy` (its unit id):
 * last writer wins, the same answer on every unit whatever order the versions arrive in.
 */
export const GroupRecordSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: GROUP_NAME_MAX }),
    members: Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: GROUP_MEMBERS_MAX }),
    updatedAt: Type.Integer({ minimum: 0, description: 'when the group last changed (ms since the epoch, on the changing unit)' }),
    updatedBy: Type.String({ minLength: 1, maxLength: 64, description: 'the unit that changed it last' }),
    deleted: Type.Boolean({ description: 'a tombstone: the group was deleted' }),
  },
  { additionalProperties: false },
);
export type GroupRecord = Static<typeof GroupRecordSchema>;

const GroupFileSchema = Type.Object({ version: Type.Literal(1), groups: Type.Array(GroupRecordSchema) });

/** A group as people see it. */
export interface Group {
  name: string;
  members: string[];
  updatedAt: string;
  updatedBy: string;
}

export class GroupError extends Error {
  constructor(
    readonly code: 'bad-group' | 'unknown-group' | 'name-taken',
    message: string,
  ) {
    super(message);
    this.name = 'GroupError';
  }
}

/** True when `a` is a later version of a group than `b`. */
export function isNewer(a: Pick<GroupRecord, 'updatedAt' | 'updatedBy'>, b: Pick<GroupRecord, 'updatedAt' | 'updatedBy'> | undefined): boolean {
  if (!b) return true;
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt;
  return a.updatedBy > b.updatedBy;
}

export type GroupStoreEvents = {
  /** Groups changed here, by a person on this unit (`local`) or by news from another unit. */
  changed: [records: GroupRecord[], origin: { local: boolean; fromUnitId: string | null }];
};

export interface GroupStoreOptions {
  dataDir: string;
  unitId: string;
  logger?: Logger;
  wallClock?: () => number;
}

/**
 * The site's call groups as this unit knows them, in `<dataDir>/groups.json`, written atomically
 * (and serialised) before a change is acknowledged or passed on. GroupSync spreads them.
 */
export class GroupStore extends EventEmitter<GroupStoreEvents> {
  readonly filePath: string;
  private readonly records = new Map<string, GroupRecord>();
  private writeQueue: Promise<unknown> = Promise.resolve();
  private cachedDigest: string | undefined;

  constructor(private readonly options: GroupStoreOptions) {
    super();
    this.filePath = path.join(options.dataDir, 'groups.json');
  }

  async load(): Promise<void> {
    await mkdir(this.options.dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, (value) => (matchesSchema(GroupFileSchema, value) ? null : 'is not a version 1 groups file'));
    if (read.kind === 'corrupt') {
      this.options.logger?.error({ file: this.filePath, keptAs: read.keptAs, reason: read.reason }, 'groups file is corrupt; it was kept aside and the other units will send the groups again');
      return;
    }
    if (read.kind === 'ok') {
      for (const record of (read.value as Static<typeof GroupFileSchema>).groups) this.records.set(userKey(record.name), record);
      this.cachedDigest = undefined;
    }
  }

  /** The groups (not the deleted ones), by name. */
  list(): Group[] {
    return [...this.records.values()]
      .filter((record) => !record.deleted)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(toGroup);
  }

  get(name: string): Group | null {
    const record = this.records.get(userKey(name));
    return record && !record.deleted ? toGroup(record) : null;
  }

  /**
   * A short digest of every version this unit holds (tombstones included), carried in its info:
   * two units with the same digest hold the same groups, and need not exchange them when they see
   * each other (after 20 of 50 units came back at once, each unit exchanged with every other: all
   * empty, 1400 of those requests timed out on a starved test machine).
   */
  digest(): string {
    this.cachedDigest ??= createHash('sha256')
      .update([...this.records.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, record]) => `${key}\t${record.updatedAt}\t${record.updatedBy}\t${record.deleted}`).join('\n'))
      .digest('hex')
      .slice(0, 16);
    return this.cachedDigest;
  }

  /** Every version this unit holds, tombstones included: what it tells other units. */
  all(): GroupRecord[] {
    return [...this.records.values()].map((record) => ({ ...record, members: [...record.members] }));
  }

  /** Creates or replaces a group from this unit; resolves once it is on disk. */
  async put(name: string, members: string[]): Promise<Group> {
    const trimmed = name.trim();
    if (!trimmed || trimmed.length > GROUP_NAME_MAX) throw new GroupError('bad-group', `a group's name has 1 to ${GROUP_NAME_MAX} characters`);
    const unique = new Map<string, string>();
    for (const member of members) {
      const clean = member.trim();
      if (!clean) throw new GroupError('bad-group', 'a member name is empty');
      if (!unique.has(userKey(clean))) unique.set(userKey(clean), clean);
    }
    if (unique.size === 0) throw new GroupError('bad-group', 'a group needs at least one member');
    const record = this.stamp({ name: trimmed, members: [...unique.values()], deleted: false });
    // One group must fit one unit-to-unit request (GroupSync sends at most 12 KB per request).
    if (Buffer.byteLength(JSON.stringify(record)) > 12_000) throw new GroupError('bad-group', 'the group is too large to spread (fewer or shorter member names)');
    return this.commit([record], { local: true, fromUnitId: null }).then(() => toGroup(record));
  }

  /** Deletes a group from this unit (a tombstone that spreads like any change). */
  remove(name: string): Promise<void> {
    const existing = this.records.get(userKey(name));
    if (!existing || existing.deleted) return Promise.reject(new GroupError('unknown-group', `no group "${name}"`));
    const record = this.stamp({ name: existing.name, members: [], deleted: true });
    return this.commit([record], { local: true, fromUnitId: null });
  }

  /** Takes the versions another unit sent that are newer than ours; resolves with those (on disk by then). */
  async merge(records: GroupRecord[], fromUnitId: string): Promise<GroupRecord[]> {
    const newer = new Map<string, GroupRecord>();
    for (const record of records) {
      const key = userKey(record.name);
      if (isNewer(record, newer.get(key) ?? this.records.get(key))) newer.set(key, { ...record, members: [...record.members] });
    }
    if (newer.size === 0) return [];
    const changed = [...newer.values()];
    await this.commit(changed, { local: false, fromUnitId });
    return changed;
  }

  private stamp(fields: Pick<GroupRecord, 'name' | 'members' | 'deleted'>): GroupRecord {
    const now = Math.floor((this.options.wallClock ?? Date.now)());
    const previous = this.records.get(userKey(fields.name));
    // Never behind the version it replaces, even with a clock that went back: the change must win.
    const updatedAt = previous ? Math.max(now, previous.updatedAt + 1) : now;
    return { ...fields, updatedAt, updatedBy: this.options.unitId };
  }

  private commit(records: GroupRecord[], origin: { local: boolean; fromUnitId: string | null }): Promise<void> {
    const write = this.writeQueue.then(async () => {
      // Checked again in the queue: a newer version may have arrived while this one waited.
      const applied = records.filter((record) => isNewer(record, this.records.get(userKey(record.name))));
      if (applied.length === 0) return;
      const next = new Map(this.records);
      for (const record of applied) next.set(userKey(record.name), record);
      await writeFileAtomic(this.filePath, `${JSON.stringify({ version: 1, groups: [...next.values()] }, null, 2)}\n`);
      for (const record of applied) this.records.set(userKey(record.name), record);
      this.cachedDigest = undefined;
      this.options.logger?.info({ groups: applied.map((record) => ({ name: record.name, deleted: record.deleted, members: record.members.length })), ...origin }, 'call groups changed');
      this.emit('changed', applied, origin);
    });
    this.writeQueue = write.catch(() => undefined);
    return write;
  }
}

function toGroup(record: GroupRecord): Group {
  return { name: record.name, members: [...record.members], updatedAt: new Date(record.updatedAt).toISOString(), updatedBy: record.updatedBy };
}
