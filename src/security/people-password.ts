import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readFileIfExists, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';

/**
 * The panel password: the one secret people log in to the panel and the public API with. There is
 * never a default: it is set from the first-boot file (`panel_password`, applied by the image's
 * settings script through `intercom password`) or with `intercom password` on the unit. Only an
 * scrypt hash is stored, in `<dataDir>/panel-password`; the service reads the file again whenever it
 * changes, so a password set while the unit runs takes effect without a restart.
 */

export const PANEL_PASSWORD_FILE = 'panel-password';
export const PANEL_PASSWORD_MIN_LENGTH = 8;
/** Long passphrases are fine; this only keeps one login from costing much more than another. */
export const PANEL_PASSWORD_MAX_LENGTH = 256;

/**
 * scrypt with N = 2^15, r = 8: 32 MiB per check. OWASP suggests N = 2^17 (128 MiB); a Pi Zero 2 has
 * 512 MiB in all, and the login limiter keeps the number of guesses small, so 2^15 is the trade.
 */
const SCRYPT_PARAMS = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

/** What `<dataDir>/panel-password` holds (JSON): the hash and how it was made. */
export interface PanelPasswordRecord {
  algorithm: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
  /** ISO 8601, for people reading the file */
  setAt: string;
}

/** Why `password` cannot be the panel password, or null when it can. */
export function panelPasswordProblem(password: string): string | null {
  const length = [...password].length;
  if (length < PANEL_PASSWORD_MIN_LENGTH) return `is ${length} characters long; at least ${PANEL_PASSWORD_MIN_LENGTH} are needed`;
  if (length > PANEL_PASSWORD_MAX_LENGTH) return `is ${length} characters long; at most ${PANEL_PASSWORD_MAX_LENGTH} are allowed`;
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'contains control characters (a line break or tab would not survive typing it into a browser)';
  return null;
}

function deriveKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // Memory needed is 128 * N * r bytes; Node refuses above maxmem, so allow just that much.
  const options: ScryptOptions = { ...params, maxmem: 128 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** A new record for `password` (fresh random salt). Throws when the password is unusable. */
export async function hashPanelPassword(password: string, now: Date = new Date()): Promise<PanelPasswordRecord> {
  const problem = panelPasswordProblem(password);
  if (problem) throw new Error(`the panel password ${problem}`);
  const salt = randomBytes(16);
  const hash = await deriveKey(password, salt, SCRYPT_PARAMS);
  return { algorithm: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64'), hash: hash.toString('base64'), setAt: now.toISOString() };
}

/** Whether `password` is the one `record` was made from; the comparison takes the same time either way. */
export async function verifyPanelPassword(record: PanelPasswordRecord, password: string): Promise<boolean> {
  // Oversized input is refused before scrypt so it cannot make one attempt expensive.
  if (password.length > PANEL_PASSWORD_MAX_LENGTH * 4) return false;
  const expected = Buffer.from(record.hash, 'base64');
  const actual = await deriveKey(password, Buffer.from(record.salt, 'base64'), record);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Why `value` is not a usable record, or null. */
function recordProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  if (record.algorithm !== 'scrypt') return 'algorithm is not scrypt';
  for (const key of ['N', 'r', 'p'] as const) {
    if (!Number.isInteger(record[key]) || (record[key] as number) < 1) return `${key} is not a positive integer`;
  }
  if ((record.N as number) > 1 << 20 || (record.r as number) > 32 || (record.p as number) > 16) return 'scrypt parameters are out of range';
  if (typeof record.salt !== 'string' || Buffer.from(record.salt, 'base64').length < 16) return 'salt is missing or short';
  if (typeof record.hash !== 'string' || Buffer.from(record.hash, 'base64').length !== KEY_LENGTH) return 'hash is missing or of the wrong length';
  return null;
}

export function panelPasswordPath(dataDir: string): string {
  return path.join(dataDir, PANEL_PASSWORD_FILE);
}

/**
 * Hashes `password` and stores it in `<dataDir>/panel-password`: atomically (temp file, fsync,
 * rename), mode 0640. Run as root (the CLI under sudo, the first-boot script), the file is given to
 * the owner of the data directory, the service's user. Returns the file's path.
 */
export async function storePanelPassword(dataDir: string, password: string): Promise<string> {
  const record = await hashPanelPassword(password);
  await mkdir(dataDir, { recursive: true });
  const file = panelPasswordPath(dataDir);
  await removeStaleTempFiles(file);
  const owner = await stat(dataDir);
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, {
    beforeRename: async (tempPath) => {
      await chmod(tempPath, 0o640);
      if (process.getuid?.() === 0) await chown(tempPath, owner.uid, owner.gid);
    },
  });
  return file;
}

/** The stored record, or null when no password is set. Throws, naming the file, when it is unusable. */
export async function readPanelPassword(dataDir: string): Promise<PanelPasswordRecord | null> {
  const file = panelPasswordPath(dataDir);
  const text = await readFileIfExists(file);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; set the password again with "intercom password"`);
  }
  const problem = recordProblem(value);
  if (problem) throw new Error(`${file}: ${problem}; set the password again with "intercom password"`);
  return value as PanelPasswordRecord;
}

/** What the service knows about the password right now. */
export type PanelPasswordState =
  | { kind: 'unset' }
  | { kind: 'set'; record: PanelPasswordRecord }
  /** The file exists but cannot be used: nobody can log in until it is set again. */
  | { kind: 'unusable'; reason: string };

/**
 * The password file as the service sees it: read again only when the file changed (by inode, size
 * and modification time), so `intercom password` takes effect at the next request without a restart
 * and without re-reading the file on every request.
 */
export class PanelPasswordFile {
  readonly file: string;
  private cached: { signature: string; state: PanelPasswordState } | null = null;

  constructor(private readonly dataDir: string) {
    this.file = panelPasswordPath(dataDir);
  }

  async current(): Promise<PanelPasswordState> {
    let signature: string;
    try {
      const info = await stat(this.file, { bigint: true });
      signature = `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return { kind: 'unusable', reason: (error as Error).message };
      signature = 'missing';
    }
    if (this.cached?.signature === signature) return this.cached.state;
    let state: PanelPasswordState;
    try {
      const record = await readPanelPassword(this.dataDir);
      state = record ? { kind: 'set', record } : { kind: 'unset' };
    } catch (error) {
      state = { kind: 'unusable', reason: (error as Error).message };
    }
    this.cached = { signature, state };
    return state;
  }
}
