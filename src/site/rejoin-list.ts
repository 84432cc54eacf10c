import path from 'node:path';
import type { Logger } from '../logging/logger.js';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';

/**
 * Units of the site that were offline while its secret was rotated: they still hold the old secret,
 * so every unit that rotated refuses them until they join again with a code. Kept in
 * `<dataDir>/site-needs-rejoining.json` (written atomically) so the panel keeps saying so after a
 * restart; an entry goes once that unit answers with the site's current secret (it re-joined).
 */

export const REJOIN_LIST_FILE = 'site-needs-rejoining.json';

export interface RejoinEntry {
  unitId: string;
  name: string;
  /** When the rotation that left it behind happened (wall-clock ms). */
  since: number;
}

const MAX_ENTRIES = 256;

export class RejoinList {
  private entries = new Map<string, RejoinEntry>();
  private readonly file: string;
  /** Writes one after another, so the file always ends as the last state. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly logger?: Logger,
  ) {
    this.file = path.join(dataDir, REJOIN_LIST_FILE);
  }

  /** Reads the stored list; a corrupt file is kept aside (and logged) and the list starts empty (it only informs people). */
  async load(): Promise<void> {
    const read = await readJsonFile(this.file, (value) => (Array.isArray(value) ? null : 'not a list'));
    if (read.kind === 'corrupt') {
      this.logger?.warn({ file: this.file, keptAs: read.keptAs, reason: read.reason }, 'the list of units that need re-joining is corrupt; it was kept aside and the list starts empty');
      return;
    }
    if (read.kind !== 'ok') return;
    for (const item of (read.value as unknown[]).slice(0, MAX_ENTRIES)) {
      const entry = item as Partial<RejoinEntry>;
      if (typeof entry.unitId === 'string' && typeof entry.name === 'string' && typeof entry.since === 'number') {
        this.entries.set(entry.unitId, { unitId: entry.unitId.slice(0, 64), name: entry.name.slice(0, 64), since: entry.since });
      }
    }
  }

  list(): RejoinEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name) || a.unitId.localeCompare(b.unitId));
  }

  has(unitId: string): boolean {
    return this.entries.has(unitId);
  }

  /** Adds units left behind by a rotation (and drops any of `except`: units that have the new secret). */
  async add(units: Array<{ unitId: string; name: string }>, since: number, except: string[] = []): Promise<void> {
    let changed = false;
    for (const unit of units) {
      if (except.includes(unit.unitId) || this.entries.size >= MAX_ENTRIES) continue;
      this.entries.set(unit.unitId, { unitId: unit.unitId, name: unit.name, since });
      changed = true;
    }
    if (changed) await this.store();
  }

  /** Drops units that now answer with the site's secret (they re-joined, or got the secret after all). */
  async drop(unitIds: Iterable<string>): Promise<boolean> {
    let changed = false;
    for (const unitId of unitIds) changed = this.entries.delete(unitId) || changed;
    if (changed) await this.store();
    return changed;
  }

  /** This unit left or joined another site: the list was about the old one. */
  async clear(): Promise<void> {
    if (this.entries.size === 0) return;
    this.entries.clear();
    await this.store();
  }

  private store(): Promise<void> {
    const text = `${JSON.stringify(this.list())}\n`;
    const write = this.writing.then(async () => {
      await removeStaleTempFiles(this.file);
      await writeFileAtomic(this.file, text);
    });
    this.writing = write.catch(() => {});
    return write;
  }
}
