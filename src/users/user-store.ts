import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../logging/logger.js';

/** A user (room or person) hosted by this unit. */
export interface LocalUser {
  name: string;
  /** Wall-clock ISO time of registration, for the panel. */
  registeredAt: string;
}

/** Names people type and read: letters, digits, spaces and a little punctuation, 1 to 40 characters. */
export const USER_NAME_PATTERN = "^[\\p{L}\\p{N}][\\p{L}\\p{N} ._'-]{0,39}$";
const userNameRegExp = new RegExp(USER_NAME_PATTERN, 'u');

/** Users compare case-insensitively ("kitchen" and "Kitchen" are the same room). */
export function userKey(name: string): string {
  return name.trim().toLocaleLowerCase('en');
}

interface UserFile {
  version: 1;
  users: LocalUser[];
}

function checkUserFile(value: unknown): string | null {
  const file = value as Partial<UserFile>;
  if (!file || typeof file !== 'object' || file.version !== 1 || !Array.isArray(file.users)) {
    return 'is not a version 1 user file';
  }
  for (const user of file.users) {
    if (typeof user?.name !== 'string' || !userNameRegExp.test(user.name) || typeof user.registeredAt !== 'string') {
      return `holds an invalid user entry ${JSON.stringify(user)}`;
    }
  }
  return null;
}

export type UserStoreEvents = { changed: [users: LocalUser[]] };

/**
 * The users this unit hosts, persisted in `<dataDir>/users.json`. Every change is written atomically
 * before it is acknowledged, and writes are serialised so two registrations never interleave.
 */
export class UserStore extends EventEmitter<UserStoreEvents> {
  private readonly users = new Map<string, LocalUser>();
  private writeQueue: Promise<void> = Promise.resolve();
  readonly filePath: string;

  constructor(
    private readonly dataDir: string,
    private readonly logger?: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
    this.filePath = path.join(dataDir, 'users.json');
  }

  /** Loads the saved users; a corrupt file is kept aside (and logged), and the unit starts with none. */
  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    await removeStaleTempFiles(this.filePath);
    const read = await readJsonFile(this.filePath, checkUserFile);
    this.users.clear();
    if (read.kind === 'corrupt') {
      this.logger?.error(
        { file: this.filePath, keptAs: read.keptAs, reason: read.reason },
        'user file is corrupt; it was kept aside and this unit starts with no users (re-register them or repair the kept file)',
      );
      return;
    }
    if (read.kind === 'ok') {
      for (const user of (read.value as UserFile).users) this.users.set(userKey(user.name), user);
    }
  }

  list(): LocalUser[] {
    return [...this.users.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): LocalUser | undefined {
    return this.users.get(userKey(name));
  }

  static isValidName(name: string): boolean {
    return userNameRegExp.test(name);
  }

  /** Adds a user (idempotent for a name already here) and returns it once it is on disk. */
  async add(name: string): Promise<{ user: LocalUser; created: boolean }> {
    const existing = this.get(name);
    if (existing) return { user: existing, created: false };
    if (!userNameRegExp.test(name)) throw new RangeError(`invalid user name ${JSON.stringify(name)}`);
    const user: LocalUser = { name, registeredAt: this.now().toISOString() };
    this.users.set(userKey(name), user);
    try {
      await this.persist();
    } catch (error) {
      this.users.delete(userKey(name));
      throw error;
    }
    this.emit('changed', this.list());
    return { user, created: true };
  }

  /** Removes a user; returns whether it existed. */
  async remove(name: string): Promise<boolean> {
    const existing = this.get(name);
    if (!existing) return false;
    this.users.delete(userKey(name));
    try {
      await this.persist();
    } catch (error) {
      this.users.set(userKey(name), existing);
      throw error;
    }
    this.emit('changed', this.list());
    return true;
  }

  private persist(): Promise<void> {
    const snapshot: UserFile = { version: 1, users: this.list() };
    const write = this.writeQueue.then(() => writeFileAtomic(this.filePath, `${JSON.stringify(snapshot, null, 2)}\n`));
    this.writeQueue = write.catch(() => {});
    return write;
  }
}
