import type { DirectoryEntry } from '../peers/peer-directory.js';
import type { UserStore } from './user-store.js';

export class NameTakenError extends Error {
  constructor(readonly holder: DirectoryEntry) {
    super(`user "${holder.name}" is already registered on unit "${holder.unitName}"`);
    this.name = 'NameTakenError';
  }
}

export interface RegistrationDirectory {
  /** Asks every known unit for its users now, so the uniqueness check sees the latest names. */
  refresh(): Promise<void>;
  findUser(name: string): DirectoryEntry | null;
}

/**
 * Registers `name` on this unit unless another unit of the site already has it. Names are unique
 * across the site; the check uses a freshly polled directory, so only two registrations of one name
 * on two units within one request timeout can both succeed (the directory then resolves the name to
 * one unit the same way everywhere, see PeerDirectory.findUser).
 */
export async function registerUser(
  name: string,
  deps: { store: UserStore; directory: RegistrationDirectory },
): Promise<{ name: string; created: boolean }> {
  const local = deps.store.get(name);
  if (local) return { name: local.name, created: false };
  await deps.directory.refresh();
  const holder = deps.directory.findUser(name);
  if (holder && !holder.local) throw new NameTakenError(holder);
  const { user, created } = await deps.store.add(name.trim());
  return { name: user.name, created };
}
