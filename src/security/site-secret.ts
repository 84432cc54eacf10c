import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging/logger.js';
import { readFileIfExists, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';

/**
 * The site secret: shared by every unit of a site, it authenticates their requests to each other
 * (see peer-auth.ts). It comes from `site.secret` in the config when set, otherwise from
 * `<dataDir>/site-secret` (written by the first-boot file, the panel, or the first start).
 *
 * A secret set in the config is where a unit starts; what the unit changes itself later (joining,
 * leaving, or its site's secret rotated when a unit was removed) is kept in
 * `<dataDir>/site-secret-replaced` with a digest of the configured value it replaced, and wins over
 * the config until that value itself changes (as the volume set on the panel does): re-provisioning
 * the card with a new site.secret takes effect, a restart with the same card keeps the rotation.
 */

export const SITE_SECRET_FILE = 'site-secret';
export const REPLACED_CONFIG_SECRET_FILE = 'site-secret-replaced';
export const SITE_SECRET_MIN_LENGTH = 16;
export const SITE_SECRET_MAX_LENGTH = 256;

/** config: site.secret; config-replaced: site.secret replaced on the unit (joined, left, rotated); file: <dataDir>/site-secret; generated: made at first start. */
export type SiteSecretSource = 'config' | 'config-replaced' | 'file' | 'generated';

export interface SiteSecret {
  secret: string;
  source: SiteSecretSource;
  /** The file it was read from or written to; null when it came from the config. */
  file: string | null;
}

/** Why `secret` cannot be a site secret, or null when it can. */
export function siteSecretProblem(secret: string): string | null {
  if (secret.length < SITE_SECRET_MIN_LENGTH) return `is ${secret.length} characters long; at least ${SITE_SECRET_MIN_LENGTH} are needed`;
  if (secret.length > SITE_SECRET_MAX_LENGTH) return `is ${secret.length} characters long; at most ${SITE_SECRET_MAX_LENGTH} are allowed`;
  if (/[\s]/.test(secret)) return 'contains white space (it would not survive being copied between units)';
  return null;
}

/** A new random secret: 32 bytes, base64url (43 characters). */
export function generateSiteSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function siteSecretPath(dataDir: string): string {
  return path.join(dataDir, SITE_SECRET_FILE);
}

/** The secret stored in `<dataDir>/site-secret`, or null when there is none. Throws when the file holds no usable secret. */
export async function readStoredSiteSecret(dataDir: string): Promise<string | null> {
  const file = siteSecretPath(dataDir);
  const text = await readFileIfExists(file);
  if (text === null) return null;
  // Trailing newlines come from editors and `echo`; they are not part of the secret.
  const secret = text.replace(/[\r\n]+$/, '');
  const problem = siteSecretProblem(secret);
  if (problem) throw new Error(`the site secret in ${file} ${problem}; fix or delete the file`);
  return secret;
}

/**
 * Stores `secret` in `<dataDir>/site-secret`, atomically and readable by the service's user only
 * (for the panel and the first-boot file, which set the secret when a unit joins a site).
 */
export async function storeSiteSecret(dataDir: string, secret: string): Promise<string> {
  const problem = siteSecretProblem(secret);
  if (problem) throw new Error(`the site secret ${problem}`);
  await mkdir(dataDir, { recursive: true });
  const file = siteSecretPath(dataDir);
  await removeStaleTempFiles(file);
  await writeFileAtomic(file, `${secret}\n`, { beforeRename: (tempPath) => chmod(tempPath, 0o600) });
  return file;
}

function configDigest(configured: string): string {
  return createHash('sha256').update(`pi-intercom replaced site.secret\n${configured}`, 'utf8').digest('hex');
}

export function replacedConfigSecretPath(dataDir: string): string {
  return path.join(dataDir, REPLACED_CONFIG_SECRET_FILE);
}

/** The secret that replaced `configured` on this unit, or null when none did (or the config has changed since). */
export async function readReplacedConfigSecret(dataDir: string, configured: string): Promise<string | null> {
  const file = replacedConfigSecretPath(dataDir);
  const text = await readFileIfExists(file);
  if (text === null) return null;
  let stored: { replaces?: unknown; secret?: unknown };
  try {
    stored = JSON.parse(text) as { replaces?: unknown; secret?: unknown };
  } catch {
    throw new Error(`${file} is not JSON; fix or delete the file (the unit then uses site.secret)`);
  }
  if (typeof stored.replaces !== 'string' || typeof stored.secret !== 'string') throw new Error(`${file} lacks "replaces" or "secret"; fix or delete the file`);
  if (stored.replaces !== configDigest(configured)) return null;
  const problem = siteSecretProblem(stored.secret);
  if (problem) throw new Error(`the site secret in ${file} ${problem}; fix or delete the file`);
  return stored.secret;
}

/** Stores `secret` as the replacement of the configured `configured`, atomically, readable by the service only. */
export async function storeReplacedConfigSecret(dataDir: string, configured: string, secret: string): Promise<string> {
  const problem = siteSecretProblem(secret);
  if (problem) throw new Error(`the site secret ${problem}`);
  await mkdir(dataDir, { recursive: true });
  const file = replacedConfigSecretPath(dataDir);
  await removeStaleTempFiles(file);
  await writeFileAtomic(file, `${JSON.stringify({ replaces: configDigest(configured), secret })}\n`, { beforeRename: (tempPath) => chmod(tempPath, 0o600) });
  return file;
}

/**
 * The secret this unit uses: `configured` (site.secret) when set (or what replaced it on the unit
 * while that value stays the same), else the stored one, else a new
 * random one stored for the next start. Throws when the configured or stored secret is unusable.
 */
export async function loadSiteSecret(options: { configured: string | null; dataDir: string; logger?: Logger }): Promise<SiteSecret> {
  const { configured, dataDir, logger } = options;
  if (configured !== null) {
    const problem = siteSecretProblem(configured);
    if (problem) throw new Error(`site.secret ${problem}`);
    const replaced = await readReplacedConfigSecret(dataDir, configured);
    if (replaced !== null) {
      const file = replacedConfigSecretPath(dataDir);
      logger?.info({ source: 'config-replaced', file }, 'site secret: site.secret was replaced on this unit (joined, left or rotated); the replacement is used until site.secret changes');
      return { secret: replaced, source: 'config-replaced', file };
    }
    logger?.info({ source: 'config' }, 'site secret from site.secret in the config');
    return { secret: configured, source: 'config', file: null };
  }
  const file = siteSecretPath(dataDir);
  // An unusable stored secret stops the start (naming the file): replacing it would silently take
  // the unit out of its site.
  const stored = await readStoredSiteSecret(dataDir);
  if (stored !== null) {
    logger?.info({ source: 'file', file }, 'site secret from the data directory');
    return { secret: stored, source: 'file', file };
  }
  const secret = generateSiteSecret();
  await storeSiteSecret(dataDir, secret);
  logger?.warn(
    { source: 'generated', file },
    `no site secret was configured, so this unit made a new one in ${file}. Units only talk to units with the same secret: ` +
      `to add this unit to a site, get a join code on a unit of the site (panel: Site, or "sudo intercom site invite") and type it ` +
      `into this unit's panel (or "sudo intercom site join CODE HOST"); or set the same "site.secret" in each unit's config.`,
  );
  return { secret, source: 'generated', file };
}
