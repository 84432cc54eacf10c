import type { BridgeTopics } from './bridge-topics.js';

/** What Home Assistant can ask of a unit: the same things its panel can do. */
export type BridgeCommand =
  | { kind: 'open-door' }
  /** The lock entity's "lock": a door strike locks itself, so this only re-states the door. */
  | { kind: 'lock-door' }
  | { kind: 'do-not-disturb'; enabled: boolean }
  | { kind: 'hang-up' }
  | { kind: 'call-target' };

/** Why a message on a command topic was refused before anything was done. */
export type CommandFormatRefusal = 'oversized' | 'bad-payload' | 'retained' | 'unknown-topic';

export type ParsedCommand = { ok: true; command: BridgeCommand } | { ok: false; reason: CommandFormatRefusal; detail: string };

/** Every command payload is a short word; anything longer is refused without being read. */
export const MAX_COMMAND_BYTES = 64;

/**
 * Reads one message from a command topic. The payloads are the exact words the discovery
 * messages announce (case and all); a retained command is refused, or every reconnection would
 * replay it (a retained OPEN would open the door each time the unit reconnects).
 */
export function parseCommand(topics: BridgeTopics, topic: string, payload: Buffer, retained: boolean): ParsedCommand {
  const accepted: Record<string, Record<string, BridgeCommand>> = {
    [topics.doorSet]: { OPEN: { kind: 'open-door' }, UNLOCK: { kind: 'open-door' }, LOCK: { kind: 'lock-door' } },
    [topics.doorOpen]: { PRESS: { kind: 'open-door' } },
    [topics.dndSet]: { ON: { kind: 'do-not-disturb', enabled: true }, OFF: { kind: 'do-not-disturb', enabled: false } },
    [topics.hangUp]: { PRESS: { kind: 'hang-up' } },
    [topics.callStart]: { PRESS: { kind: 'call-target' } },
  };
  const words = accepted[topic];
  if (!words) return { ok: false, reason: 'unknown-topic', detail: 'not a command topic of this unit' };
  if (payload.length > MAX_COMMAND_BYTES) return { ok: false, reason: 'oversized', detail: `${payload.length} bytes (at most ${MAX_COMMAND_BYTES})` };
  if (retained) return { ok: false, reason: 'retained', detail: 'a retained command (commands must not be retained: each reconnection would replay it)' };
  const text = payload.toString('utf8');
  const command = Object.hasOwn(words, text) ? words[text] : undefined;
  if (!command) return { ok: false, reason: 'bad-payload', detail: `${JSON.stringify(text)} is not one of ${Object.keys(words).join(', ')}` };
  return { ok: true, command };
}
