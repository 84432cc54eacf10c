/**
 * Whether an incoming page plays on this unit, and how loud against a call. Pure: the paging
 * service asks it with the unit's state and applies the answer to the media engine.
 *
 * Priorities: emergency > announcement > call. A page never ends a call: the call goes on,
 * ducked under the page, and comes back to full volume when the page ends. Do-not-disturb
 * silences announcements, never an emergency. A page does not interrupt one of equal or higher
 * priority (the first announcement finishes); an emergency interrupts an announcement.
 */

export const PAGE_PRIORITIES = ['announcement', 'emergency'] as const;
export type PagePriority = (typeof PAGE_PRIORITIES)[number];

/** Why a unit does not play a page (the member's answer to the offer says it). */
export type PageRefusal = 'do-not-disturb' | 'page-playing' | 'no-speaker';

/** The call's gain while an announcement plays over it: -12 dB. */
export const CALL_GAIN_UNDER_ANNOUNCEMENT = 10 ** (-12 / 20);
/** The call's gain while an emergency plays over it: -20 dB (the emergency must be understood). */
export const CALL_GAIN_UNDER_EMERGENCY = 10 ** (-20 / 20);

export interface UnitPlayoutState {
  call: 'idle' | 'ringing' | 'in-call';
  doNotDisturb: boolean;
  /** The page this unit plays now, if any. */
  playing: { pageId: string; priority: PagePriority } | null;
  /** The priority of the page this unit sends itself, if any: a unit paging is busy like one playing a page. */
  sending: PagePriority | null;
  /** Whether the unit has a speaker to play a page on at all. */
  canPlay: boolean;
}

export type PlayoutDecision =
  | {
      play: true;
      /** Gain of the page's audio on the speaker. */
      pageGain: number;
      /** Gain of the call's audio while the page plays (1 when there is no call). */
      callGain: number;
      /** The page this one interrupts (it stops for this one), or null. */
      interrupts: string | null;
    }
  | { play: false; reason: PageRefusal };

const RANK: Record<PagePriority, number> = { announcement: 1, emergency: 2 };

export function priorityRank(priority: PagePriority): number {
  return RANK[priority];
}

export function decidePlayout(state: UnitPlayoutState, priority: PagePriority): PlayoutDecision {
  if (!state.canPlay) return { play: false, reason: 'no-speaker' };
  if (priority === 'announcement' && state.doNotDisturb) return { play: false, reason: 'do-not-disturb' };
  if (state.playing && RANK[state.playing.priority] >= RANK[priority]) return { play: false, reason: 'page-playing' };
  if (state.sending && RANK[state.sending] >= RANK[priority]) return { play: false, reason: 'page-playing' };
  const callGain = state.call === 'in-call' ? (priority === 'emergency' ? CALL_GAIN_UNDER_EMERGENCY : CALL_GAIN_UNDER_ANNOUNCEMENT) : 1;
  return { play: true, pageGain: 1, callGain, interrupts: state.playing?.pageId ?? null };
}

/**
 * A call that starts while a page plays is ducked like one that was there first: the gain the call
 * gets now, for the page playing (1 without one).
 */
export function callGainDuring(playing: PagePriority | null): number {
  if (playing === null) return 1;
  return playing === 'emergency' ? CALL_GAIN_UNDER_EMERGENCY : CALL_GAIN_UNDER_ANNOUNCEMENT;
}
