/**
 * What each of the unit's own sounds is made of. Every sound has its own frequencies, so that a
 * person (and a test) tells them apart even from a snippet:
 *
 * | sound | frequencies | cadence |
 * |---|---|---|
 * | ring (the callee's unit) | 659 Hz "ding", 523 Hz "dong", bell-like decay | 0.6 s + 1 s, 1.4 s pause, until answered |
 * | ringback (the caller hears it ringing) | 440 + 480 Hz | 2 s on, 4 s off, while it rings |
 * | busy | 480 + 620 Hz | 0.5 s on, 0.5 s off, for 6 s |
 * | unreachable | 950, 1400, 1800 Hz rising (ITU-T E.180 special information tone) | 3 x 330 ms, 1 s pause, twice |
 * | ended | 880 Hz then 587 Hz, falling | 0.45 s, once |
 * | door opened | 1047, 1319, 1568 Hz rising | 0.48 s, once |
 * | auto-answer (the line opens by itself) | 784 Hz twice, then 1175 Hz | 0.15 + 0.15 + 0.3 s with 80 ms gaps, once |
 *
 * Ringback and busy follow the North American precise tone plan's pairs (widely recognised);
 * the ring is a two-note door chime, not a telephone ring: it is a door.
 */
export type UnitSoundName = 'ring' | 'ringback' | 'busy' | 'unreachable' | 'ended' | 'doorOpened' | 'autoAnswer';

export interface ToneSegment {
  /** Frequencies sounding together; none is a pause. */
  frequenciesHz: readonly number[];
  durationMs: number;
  /** Bell-like: the amplitude falls to 1/e over this time (absent: steady). */
  decayMs?: number;
}

export interface TonePlan {
  segments: readonly ToneSegment[];
  /** How many times the segments play: a number, or until stopped. */
  repeat: number | 'until-stopped';
  /** Peak level of the sound, dBFS, before any volume setting. */
  peakDbfs: number;
}

const pause = (durationMs: number): ToneSegment => ({ frequenciesHz: [], durationMs });

export const TONE_PLANS: Readonly<Record<UnitSoundName, TonePlan>> = {
  ring: {
    segments: [{ frequenciesHz: [659.25], durationMs: 600, decayMs: 300 }, { frequenciesHz: [523.25], durationMs: 1000, decayMs: 450 }, pause(1400)],
    repeat: 'until-stopped',
    peakDbfs: -3,
  },
  ringback: { segments: [{ frequenciesHz: [440, 480], durationMs: 2000 }, pause(4000)], repeat: 'until-stopped', peakDbfs: -12 },
  busy: { segments: [{ frequenciesHz: [480, 620], durationMs: 500 }, pause(500)], repeat: 6, peakDbfs: -12 },
  unreachable: {
    segments: [{ frequenciesHz: [950], durationMs: 330 }, { frequenciesHz: [1400], durationMs: 330 }, { frequenciesHz: [1800], durationMs: 330 }, pause(1000)],
    repeat: 2,
    peakDbfs: -12,
  },
  ended: { segments: [{ frequenciesHz: [880], durationMs: 150 }, pause(50), { frequenciesHz: [587.33], durationMs: 250 }], repeat: 1, peakDbfs: -12 },
  // Played before a door station answers a call by itself (calls.autoAnswer): whoever stands there hears the line open.
  autoAnswer: {
    segments: [{ frequenciesHz: [783.99], durationMs: 150 }, pause(80), { frequenciesHz: [783.99], durationMs: 150 }, pause(80), { frequenciesHz: [1174.66], durationMs: 300 }],
    repeat: 1,
    peakDbfs: -9,
  },
  doorOpened: { segments: [{ frequenciesHz: [1046.5], durationMs: 120 }, { frequenciesHz: [1318.5], durationMs: 120 }, { frequenciesHz: [1568], durationMs: 240 }], repeat: 1, peakDbfs: -12 },
};
