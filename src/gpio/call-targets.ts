/**
 * The one place where a name from the configuration (gpio.callTarget, gpio.buttons[].target, the
 * keypad's directory) becomes something to ring: a user of the site, or a call group (the call
 * service then rings every member's unit; the buttons and the keypad need not know).
 */

export type CallTargetKind = 'user' | 'group';

export type CallTargetResolution =
  | { ok: true; kind: CallTargetKind; /** The name as the site spells it. */ name: string }
  | { ok: false; /** Why nothing can be rung, for the log. */ reason: string };

export type CallTargetResolver = (name: string) => CallTargetResolution;

/** Takes every name as a user name and lets the call service say whether it exists (no directory at hand). */
export const nameAsUser: CallTargetResolver = (name) => ({ ok: true, kind: 'user', name });

/** The part of the site directory the resolver reads (PeerDirectory fits). */
export interface TargetDirectory {
  findUser(name: string): { name: string; local: boolean; unitName: string } | null;
}

/** The site's call groups (GroupStore fits). */
export interface TargetGroups {
  get(name: string): { name: string } | null;
}

/** Resolves names against the site directory (users first, as the call service does) and the site's groups, as this unit sees them now. */
export function siteCallTargets(directory: TargetDirectory, groups?: TargetGroups): CallTargetResolver {
  return (name) => {
    const user = directory.findUser(name);
    if (!user) {
      const group = groups?.get(name);
      if (group) return { ok: true, kind: 'group', name: group.name };
      return { ok: false, reason: `no user or group "${name}" is known in the site (is its unit on and registered?)` };
    }
    if (user.local) return { ok: false, reason: `"${user.name}" is a user of this unit itself; a unit cannot ring itself` };
    return { ok: true, kind: 'user', name: user.name };
  };
}
