import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static } from 'typebox';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../logging/logger.js';

/** Who switched do-not-disturb last: a person (panel or API) or Home Assistant (MQTT). */
export const DND_SOURCES = ['api', 'mqtt'] as const;
export type DoNotDisturbSource = (typeof DND_SOURCES)[number];

export const DoNotDisturbStatusSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'calls to this unit are answered busy instead of ringing' }),
    changedAt: Type.Union([Type.String(), Type.Null()], { description: 'when it was last switched (ISO 8601), null: never' }),
    changedBy: Type.Union([Type.Enum([...DND_SOURCES]), Type.Null()], {
      description: 'api: the panel or the HTTP API; mqtt: Home Assistant; null: never switched',
    }),
    refusedCalls: Type.Integer({ description: 'calls answered busy because of it since the service started' }),
  },
  { description: "this unit's do-not-disturb state, kept in <dataDir>/do-not-disturb.json" },
);
export type DoNotDisturbStatus = Static<typeof DoNotDisturbStatusSchema>;

export const DoNotDisturbBodySchema = Type.Object({ enabled: Type.Boolean({ description: 'true: calls are answered busy; false: calls ring' }) });

interface DndFile {
  version: 1;
  enabled: boolean;
  changedAt: string | null;
  changedBy: DoNotDisturbSource | null;
}

function checkDndFile(value: unknown): string | null {
  const file = value as Partial<DndFile>;
  if (!file || typeof file !== 'object' || file.version !== 1 || typeof file.enabled !== 'boolean') return 'is not a version 1 do-not-disturb file';
  if (file.changedAt !== null && typeof file.changedAt !== 'string') return 'has an invalid changedAt';
  if (file.changedBy !== null && !DND_SOURCES.includes(file.changedBy as DoNotDisturbSource)) return 'has an invalid changedBy';
  return null;
}

export type DoNotDisturbEvents = { changed: [status: DoNotDisturbStatus] };

/**
 * The unit's do-not-disturb switch. While it is on, a call offered to this unit is answered
 * `busy` instead of ringing (the call service asks `refusesOffer()`). The state survives restarts:
 * it is written atomically to `<dataDir>/do-not-disturb.json` before a change is acknowledged,
 * and writes are serialised, so the last request wins on disk as in memory.
 */
export class DoNotDisturb extends EventEmitter<DoNotDisturbEvents> {
  readonly filePath: string;
  private state: Omit<DndFile, 'version'> = { enabled: false, changedAt: null, changedBy: null };
  private refused = 0;
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly logger?: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
    this.filePath = path.join(dataDir, 'do-not-disturb.json');
  }

  /** Reads the saved state; a corrupt file is kept aside (and logged), and the unit starts with it off. */
  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, checkDndFile);
    if (read.kind === 'corrupt') {
      this.logger?.error(
        { file: this.filePath, keptAs: read.keptAs, reason: read.reason },
        'do-not-disturb file is corrupt; it was kept aside and do-not-disturb starts off',
      );
      return;
    }
    if (read.kind === 'ok') {
      const { enabled, changedAt, changedBy } = read.value as DndFile;
      this.state = { enabled, changedAt, changedBy };
    }
  }

  get enabled(): boolean {
    return this.state.enabled;
  }

  status(): DoNotDisturbStatus {
    return { ...this.state, refusedCalls: this.refused };
  }

  /**
   * Switches it on or off; resolves once the new state is on disk. A write that fails (disk full,
   * read-only) rejects with the file system's error and leaves the state as it was.
   */
  set(enabled: boolean, by: DoNotDisturbSource): Promise<DoNotDisturbStatus> {
    const write = this.writeQueue.then(async () => {
      if (enabled === this.state.enabled) return this.status();
      const next = { enabled, changedAt: this.now().toISOString(), changedBy: by };
      await writeFileAtomic(this.filePath, `${JSON.stringify({ version: 1, ...next } satisfies DndFile, null, 2)}\n`);
      this.state = next;
      this.logger?.info({ doNotDisturb: enabled, by }, `do-not-disturb ${enabled ? 'on: calls to this unit are answered busy' : 'off: calls ring again'}`);
      const status = this.status();
      this.emit('changed', status);
      return status;
    });
    this.writeQueue = write.catch(() => undefined);
    return write;
  }

  /** Asked when a call would ring here: true (and counted) when it must be answered busy instead. */
  refusesOffer(): boolean {
    if (!this.state.enabled) return false;
    this.refused++;
    return true;
  }
}
