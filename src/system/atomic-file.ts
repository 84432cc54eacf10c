import { open, rename, unlink, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Replaces `filePath` with `data` so that a crash or power cut at any moment leaves either the old
 * or the new content: write a temp file beside it, fsync it, rename over the target, fsync the
 * directory (without the last step the rename itself may not survive a power cut on ext4).
 * `beforeRename` exists for tests that simulate a crash between write and rename.
 */
export async function writeFileAtomic(
  filePath: string,
  data: string,
  options: { beforeRename?: (tempPath: string) => Promise<void> | void } = {},
): Promise<void> {
  const directory = path.dirname(filePath);
  const tempPath = path.join(directory, `.${path.basename(filePath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await open(tempPath, 'w', 0o644);
  try {
    await file.writeFile(data, 'utf8');
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(tempPath).catch(() => {});
    throw error;
  }
  await file.close();
  try {
    await options.beforeRename?.(tempPath);
    await rename(tempPath, filePath);
  } catch (error) {
    await unlink(tempPath).catch(() => {});
    throw error;
  }
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** A state file's text, or null when there is none yet (first start); other read errors throw. */
export async function readFileIfExists(filePath: string): Promise<string | null> {
  try {
    return await readFile(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** What a JSON state file held: its parsed content, nothing (first start), or a corrupt file set aside. */
export type JsonFileRead =
  | { kind: 'missing' }
  | { kind: 'ok'; value: unknown }
  | { kind: 'corrupt'; reason: string; keptAs: string };

/**
 * Reads a JSON state file. A file that does not parse (or fails `check`) is renamed to
 * `<name>.corrupt-<timestamp>` so the operator can inspect it and the next save does not destroy it.
 */
export async function readJsonFile(
  filePath: string,
  check: (value: unknown) => string | null = () => null,
): Promise<JsonFileRead> {
  const text = await readFileIfExists(filePath);
  if (text === null) return { kind: 'missing' };
  let reason: string | null;
  let value: unknown;
  try {
    value = JSON.parse(text);
    reason = check(value);
  } catch (error) {
    reason = `not valid JSON (${(error as Error).message})`;
  }
  if (reason === null) return { kind: 'ok', value };
  const keptAs = `${filePath}.corrupt-${new Date().toISOString().replaceAll(':', '-')}`;
  await rename(filePath, keptAs);
  return { kind: 'corrupt', reason, keptAs };
}

/** Deletes temp files a crash left beside `filePath` (they never replaced it, so they are not state). */
export async function removeStaleTempFiles(filePath: string): Promise<number> {
  const directory = path.dirname(filePath);
  const prefix = `.${path.basename(filePath)}.`;
  const stale = (await readdir(directory)).filter((name) => name.startsWith(prefix) && name.endsWith('.tmp'));
  await Promise.all(stale.map((name) => unlink(path.join(directory, name)).catch(() => {})));
  return stale.length;
}
