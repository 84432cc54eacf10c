import type { Clock, TimerHandle } from '../system/clock.js';
import type { Led, LedMode } from './led.js';

/**
 * Short light patterns a visitor at the door panel can read without a display: each key press
 * blinks once, a cleared entry twice, a refused number (or a call that could not be placed) three
 * times quickly. Durations in ms, alternately lit and dark, starting lit.
 */
export const FEEDBACK_PATTERNS = {
  key: [60],
  cleared: [120, 120, 120],
  refused: [80, 80, 80, 80, 80],
} as const;

export type FeedbackPattern = keyof typeof FEEDBACK_PATTERNS;

/** Dark time after a pattern (and before it, over a lit LED). */
const FLASH_GAP_MS = 150;

/**
 * The ring LED with feedback flashes laid over its call mode (off, blinking while ringing, steady in
 * a call): a flash plays, then the LED returns to whatever mode the call asks for by then.
 */
export class IndicatorLed {
  private base: LedMode;
  private flashTimer: TimerHandle | null = null;

  constructor(
    private readonly led: Led,
    private readonly clock: Clock,
  ) {
    this.base = led.mode;
  }

  /** The mode the call asks for (flashes aside). */
  get mode(): LedMode {
    return this.base;
  }

  get flashing(): boolean {
    return this.flashTimer !== null;
  }

  set(mode: LedMode): void {
    this.base = mode;
    if (!this.flashTimer) this.led.set(mode);
  }

  /**
   * Plays `pattern` now (cutting short one that is playing). Over a lit LED (a call ringing or
   * active) the pattern is framed by a short dark gap on both sides, so the flashes read as such.
   */
  flash(pattern: FeedbackPattern): void {
    this.cancelFlash();
    const lit = this.base !== 'off';
    const steps: number[] = [...(lit ? [FLASH_GAP_MS] : []), ...FEEDBACK_PATTERNS[pattern], FLASH_GAP_MS];
    // Lit on even steps of the pattern; the framing gaps are dark.
    const levels: LedMode[] = [...(lit ? ['off' as const] : []), ...FEEDBACK_PATTERNS[pattern].map((_, index) => (index % 2 === 0 ? 'steady' : 'off') as LedMode), 'off'];
    let index = 0;
    const step = () => {
      if (index >= steps.length) {
        this.flashTimer = null;
        this.led.set(this.base);
        return;
      }
      this.led.set(levels[index]);
      this.flashTimer = this.clock.setTimeout(step, steps[index]);
      index += 1;
    };
    step();
  }

  stop(): void {
    this.cancelFlash();
    this.led.stop();
  }

  private cancelFlash(): void {
    if (this.flashTimer) this.clock.clearTimeout(this.flashTimer);
    this.flashTimer = null;
  }
}
