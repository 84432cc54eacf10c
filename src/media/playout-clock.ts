/**
 * The playback device's clock as the jitter buffer sees it. Sound cards (and PortAudio above
 * them) ask for audio in bursts: two 20 ms frames every 40 ms is common. Taking the wall time of
 * each request as its playout time would make every other frame look 20 ms early, and the buffer
 * would time-scale back and forth all call long. Instead each frame plays one frame period after
 * the one before (the device's own clock), gently pulled toward wall time so that the device's
 * real rate (±200 ppm) still shows, and re-anchored when the device stalls or restarts.
 *
 * A frame must nonetheless be *ready* when the device asks for it, which in a burst is before its
 * playout time: `leadMs` is how far ahead of playout time the device has asked recently (the worst
 * case over a couple of seconds). The jitter buffer adds it to its delay target; without it, the
 * second frame of every burst would find its packet not yet arrived and play concealment.
 */
export class PlayoutClock {
  private playoutMs: number | null = null;
  private readonly leads: number[];
  private leadIndex = 0;
  private cachedLeadMs: number | null = 0;

  constructor(
    private readonly frameMs: number,
    /** Fraction of the remaining error corrected per frame: 0.02 smooths over about a second. */
    private readonly pull = 0.02,
    /** Beyond this disagreement with wall time the device is taken to have stalled: re-anchor. */
    private readonly resyncMs = 120,
    /** How long a request's lead is remembered. */
    leadWindowMs = 2_000,
  ) {
    this.leads = new Array<number>(Math.max(1, Math.ceil(leadWindowMs / frameMs))).fill(0);
  }

  /** Playout time of the frame requested at wall time `nowMs`. */
  next(nowMs: number): number {
    if (this.playoutMs === null) {
      this.playoutMs = nowMs;
    } else {
      const predicted = this.playoutMs + this.frameMs;
      const error = nowMs - predicted;
      this.playoutMs = Math.abs(error) > this.resyncMs ? nowMs : predicted + this.pull * error;
    }
    this.rememberLead(this.playoutMs - nowMs);
    return this.playoutMs;
  }

  /** The most a recent frame was requested ahead of its playout time (never negative). */
  get leadMs(): number {
    this.cachedLeadMs ??= Math.max(0, ...this.leads);
    return this.cachedLeadMs;
  }

  private rememberLead(leadMs: number): void {
    this.leads[this.leadIndex] = leadMs;
    this.leadIndex = (this.leadIndex + 1) % this.leads.length;
    this.cachedLeadMs = null;
  }
}
