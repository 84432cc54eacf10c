import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';
import type { Logger } from '../logging/logger.js';

const UNIT_ID_PATTERN = /^[A-Za-z0-9-]{8,64}$/;

/**
 * The unit's stable identity across restarts, created on first start and kept in
 * `<dataDir>/unit.json`. Peers key their directory by it, and call glare is settled by it, so it
 * must not change when the unit is renamed or moves to another address.
 */
export async function loadOrCreateUnitId(dataDir: string, logger?: Logger): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const filePath = path.join(dataDir, 'unit.json');
  const read = await readJsonFile(filePath, (value) =>
    typeof (value as { unitId?: unknown })?.unitId === 'string' && UNIT_ID_PATTERN.test((value as { unitId: string }).unitId)
      ? null
      : 'has no valid "unitId"',
  );
  if (read.kind === 'ok') return (read.value as { unitId: string }).unitId;
  if (read.kind === 'corrupt') {
    logger?.error({ file: filePath, keptAs: read.keptAs, reason: read.reason }, 'unit identity file was corrupt; kept it aside and made a new identity');
  }
  const unitId = randomUUID();
  await writeFileAtomic(filePath, `${JSON.stringify({ unitId }, null, 2)}\n`);
  return unitId;
}
