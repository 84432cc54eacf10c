import { EventEmitter } from 'node:events';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { matchesSchema } from '../system/schema-check.js';
import type { Logger } from '../logging/logger.js';
import type { CallSnapshot } from '../calls/call-service.js';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';

/** How many calls a unit remembers (issue 15: the last 200 per unit). */
export const CALL_HISTORY_LIMIT = 200;
export const CALL_HISTORY_FILE = 'call-history.json';

const HistoryPartySchema = Type.Object({
  user: Type.String({ minLength: 1, maxLength: 64 }),
  unitId: Type.String({ maxLength: 64, description: 'empty for the callee of a group call nobody answered (then user is the group)' }),
  unitName: Type.String({ maxLength: 64 }),
});

/**
 * One finished call as this unit saw it. The same schema checks the stored file and documents the
 * API's answer, so the two cannot drift apart.
 */
export const CallHistoryEntrySchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64, description: 'the call id (as in GET /api/calls)' }),
    direction: Type.Union([Type.Literal('outgoing'), Type.Literal('incoming')], { description: 'outgoing: placed from this unit; incoming: rang here' }),
    caller: HistoryPartySchema,
    callee: HistoryPartySchema,
    startedAt: Type.String({ maxLength: 40, description: 'when the call was placed or began to ring here (ISO 8601)' }),
    endedAt: Type.String({ maxLength: 40, description: 'when it ended (ISO 8601)' }),
    ringingMs: Type.Integer({ minimum: 0, description: 'how long it rang' }),
    talkMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'how long the two talked; null when it was never answered' }),
    endReason: Type.String({
      pattern: '^[a-z][a-z-]{0,39}$',
      description: 'how it ended: hung-up, rejected, busy, ring-timeout, unreachable, peer-lost, answered-elsewhere (the reasons of GET /api/calls)',
    }),
    missed: Type.Boolean({ description: 'an incoming call nobody here answered or refused (it timed out, or the caller gave up; not one another member of its group answered)' }),
    group: Type.Optional(Type.String({ maxLength: 64, description: 'the call group the call was placed to (absent: a call to one user)' })),
  },
  { additionalProperties: false },
);

export type CallHistoryEntry = Static<typeof CallHistoryEntrySchema>;

interface HistoryFile {
  version: 1;
  calls: unknown[];
}

/** Where the call events come from (CallService fits). */
export interface CallEventSource {
  on(event: 'call', listener: (call: CallSnapshot) => void): unknown;
  off(event: 'call', listener: (call: CallSnapshot) => void): unknown;
}

export interface CallHistoryOptions {
  dataDir: string;
  logger: Logger;
  /** Calls kept (newest first); default CALL_HISTORY_LIMIT. */
  limit?: number;
  /** Wall-clock time, for `endedAt` (calls end when their `ended` event arrives). */
  wallClock?: () => Date;
}

export type CallHistoryEvents = { changed: [] };

/**
 * An incoming call is missed when it ended without being answered and nobody on this unit refused
 * it: it rang out, or the caller gave up, or the caller's unit vanished meanwhile.
 */
export function isMissed(call: Pick<CallSnapshot, 'direction' | 'activeMs' | 'endReason'>): boolean {
  return call.direction === 'incoming' && call.activeMs === null && call.endReason !== 'rejected' && call.endReason !== 'answered-elsewhere';
}

/** The history entry for an ended call, or null for a call that is not history (live, or replaced). */
export function historyEntryOf(call: CallSnapshot, endedAt: Date): CallHistoryEntry | null {
  if (call.phase !== 'ended' || call.endReason === null) return null;
  // Two units calling each other at once: the superseded call is not a call anyone made; the one that replaced it is recorded.
  if (call.supersededBy) return null;
  const party = (side: CallSnapshot['caller']) => ({ user: side.user, unitId: side.unitId, unitName: side.unitName });
  return {
    id: call.id,
    direction: call.direction,
    caller: party(call.caller),
    callee: party(call.callee),
    startedAt: call.createdAt,
    endedAt: endedAt.toISOString(),
    ringingMs: Math.max(0, Math.round(call.ringingMs)),
    talkMs: call.activeMs === null ? null : Math.max(0, Math.round(call.activeMs)),
    endReason: call.endReason,
    missed: isMissed(call),
    ...(call.group ? { group: call.group } : {}),
  };
}

/**
 * The unit's call history: the last `limit` finished calls, newest first, in
 * `<dataDir>/call-history.json`. Fed by the call service's `call` events (attach()); every change is
 * written atomically in the background. A write that fails is logged and retried with the next
 * change (the calls stay in memory meanwhile), so a full disk never stops a call.
 */
export class CallHistory extends EventEmitter<CallHistoryEvents> {
  readonly filePath: string;
  private readonly limit: number;
  private readonly wallClock: () => Date;
  private calls: CallHistoryEntry[] = [];
  /** The write that will run after the one in flight (changes meanwhile join it). */
  private queued: Promise<void> | null = null;
  private lastWrite: Promise<void> = Promise.resolve();
  private writeFailing = false;

  constructor(private readonly options: CallHistoryOptions) {
    super();
    this.filePath = path.join(options.dataDir, CALL_HISTORY_FILE);
    this.limit = options.limit ?? CALL_HISTORY_LIMIT;
    this.wallClock = options.wallClock ?? (() => new Date());
  }

  /**
   * Reads the stored history. A file that is not JSON (a truncated write from before atomic saves,
   * a damaged card) is kept aside and the unit starts with an empty history; single entries that do
   * not check are dropped, with a copy of the file kept aside. Logs what it did; never throws for
   * bad content (only when the data directory itself cannot be read).
   */
  async load(): Promise<void> {
    const { logger } = this.options;
    await mkdir(this.options.dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, checkEnvelope);
    this.calls = [];
    if (read.kind === 'missing') return;
    if (read.kind === 'corrupt') {
      logger.error(
        { file: this.filePath, keptAs: read.keptAs, reason: read.reason },
        'call history file is corrupt; it was kept aside and the history starts empty',
      );
      return;
    }
    const stored = (read.value as HistoryFile).calls;
    const seen = new Set<string>();
    const valid: CallHistoryEntry[] = [];
    let dropped = 0;
    for (const entry of stored) {
      if (matchesSchema(CallHistoryEntrySchema, entry) && !seen.has(entry.id)) {
        seen.add(entry.id);
        valid.push(entry);
      } else dropped += 1;
    }
    this.calls = valid.slice(0, this.limit);
    if (dropped > 0) {
      const keptAs = `${this.filePath}.corrupt-${new Date().toISOString().replaceAll(':', '-')}`;
      await copyFile(this.filePath, keptAs).catch(() => undefined);
      logger.warn({ file: this.filePath, keptAs, dropped, kept: this.calls.length }, `call history: ${dropped} damaged entries dropped (the file was copied aside)`);
    }
  }

  /** Records every call that ends from now on; returns a function that stops it. */
  attach(source: CallEventSource): () => void {
    const onCall = (call: CallSnapshot) => {
      this.record(call);
    };
    source.on('call', onCall);
    return () => {
      source.off('call', onCall);
    };
  }

  /** Adds an ended call (anything else is ignored); returns the entry when one was added. */
  record(call: CallSnapshot): CallHistoryEntry | null {
    const entry = historyEntryOf(call, this.wallClock());
    if (!entry) return null;
    this.calls = [entry, ...this.calls.filter((known) => known.id !== entry.id)].slice(0, this.limit);
    this.emit('changed');
    void this.persist().catch(() => undefined);
    return entry;
  }

  /** Newest first; `missedOnly` keeps the missed calls; at most `limit` of them. */
  list(query: { limit?: number; missedOnly?: boolean } = {}): CallHistoryEntry[] {
    const matching = query.missedOnly ? this.calls.filter((call) => call.missed) : this.calls;
    return matching.slice(0, query.limit ?? this.limit).map((call) => ({ ...call, caller: { ...call.caller }, callee: { ...call.callee } }));
  }

  /** How many calls are remembered, and how many of them were missed. */
  counts(): { total: number; missed: number; capacity: number } {
    return { total: this.calls.length, missed: this.calls.filter((call) => call.missed).length, capacity: this.limit };
  }

  /**
   * Forgets every call, once that is on disk; on a write failure nothing changes and the error is
   * thrown (the API answers it as storage-full or storage-unavailable).
   */
  async clear(): Promise<number> {
    const before = this.calls;
    this.calls = [];
    try {
      await this.persist();
    } catch (error) {
      this.calls = [...before, ...this.calls.filter((call) => !before.some((known) => known.id === call.id))].slice(0, this.limit);
      throw error;
    }
    this.options.logger.info({ cleared: before.length }, 'call history cleared');
    this.emit('changed');
    return before.length;
  }

  /** Resolves once everything recorded so far is on disk (or has failed to get there). */
  async flush(): Promise<void> {
    await (this.queued ?? this.lastWrite).catch(() => undefined);
  }

  /** Writes the history as it is when the write starts; writes never overlap, and changes meanwhile share the next one. */
  private persist(): Promise<void> {
    if (this.queued) return this.queued;
    const write = this.lastWrite.then(async () => {
      this.queued = null;
      const file: HistoryFile = { version: 1, calls: this.calls };
      try {
        await writeFileAtomic(this.filePath, `${JSON.stringify(file)}\n`);
      } catch (error) {
        if (!this.writeFailing) {
          this.options.logger.error({ err: error, file: this.filePath }, 'call history could not be saved; it is kept in memory and saved with the next call');
        }
        this.writeFailing = true;
        throw error;
      }
      if (this.writeFailing) this.options.logger.info({ file: this.filePath }, 'call history saved again');
      this.writeFailing = false;
    });
    this.queued = write;
    this.lastWrite = write.catch(() => undefined);
    return write;
  }
}

function checkEnvelope(value: unknown): string | null {
  const file = value as Partial<HistoryFile> | null;
  if (!file || typeof file !== 'object' || file.version !== 1 || !Array.isArray(file.calls)) return 'is not a version 1 call history file';
  return null;
}
