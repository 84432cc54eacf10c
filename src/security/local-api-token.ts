import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readFileIfExists, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';

/**
 * The local API token: lets commands run on the unit itself (`sudo intercom site invite`) use the
 * service's API without the panel password. The service makes a new random token at every start
 * in `<dataDir>/local-api-token` (mode 0600: root and the service's user only); a request that
 * carries it in LOCAL_TOKEN_HEADER counts as a logged-in person. A browser page cannot know it, so
 * it also stands in for the CSRF token.
 */

export const LOCAL_TOKEN_FILE = 'local-api-token';
export const LOCAL_TOKEN_HEADER = 'x-intercom-local-token';

export function localApiTokenPath(dataDir: string): string {
  return path.join(dataDir, LOCAL_TOKEN_FILE);
}

export async function createLocalApiToken(dataDir: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  const file = localApiTokenPath(dataDir);
  await removeStaleTempFiles(file);
  await writeFileAtomic(file, `${token}\n`, { beforeRename: (tempPath) => chmod(tempPath, 0o600) });
  return token;
}

/** The running service's token, or null when there is none (the service has not started). */
export async function readLocalApiToken(dataDir: string): Promise<string | null> {
  const text = await readFileIfExists(localApiTokenPath(dataDir));
  return text === null ? null : text.trim();
}

export function localTokenMatches(expected: string, given: string | string[] | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
