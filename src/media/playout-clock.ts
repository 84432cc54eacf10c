/**
 * The playback device's clock as the jitter buffer sees it. Sound cards (and PortAudio above
 * them) ask for audio in bursts: two 20 ms frames every 40 ms is common. Taking the wall time of
 * each request as its playout time would make every other frame look 20 ms early, and the buffer
 * would time-scale back and forth all call long. Instead each frame plays one device frame period
 * after the one before (the device's own clock), gently pulled toward wall time, and re-anchored
 * when the device stalls or restarts.
 *
 * The device frame period is measured, not assumed: a card (or an emulated board's) that plays
 * 25% slow asks for a 20 ms frame every 26.7 ms. Assuming 20 ms would make the playout times run
 * ahead of wall time and be re-anchored every half second, 120 ms at a time, and every delay the
 * buffer steered and reported would be off by up to that much. The period is the mean spacing of
 * the requests over the last few seconds (bursts and a stall that is caught up cancel out over
 * the span); the device's ±200 ppm of a real card show in it as well.
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
  /** Request times of the last `rateWindowFrames` frames (a ring), for the device's frame period. */
  private readonly requests: Float64Array;
  private requestCount = 0;
  private periodMs: number;

  constructor(
    private readonly frameMs: number,
    /** Fraction of the remaining error corrected per frame: 0.02 smooths over about a second. */
    private readonly pull = 0.02,
    /** Beyond this disagreement with wall time the device is taken to have stalled: re-anchor. */
    private readonly resyncMs = 120,
    /** How long a request's lead is remembered. */
    leadWindowMs = 2_000,
    /** Frames over which the device's period is measured (5 s of 20 ms frames). */
    private readonly rateWindowFrames = 250,
    /** Requests needed before the period is measured rather than assumed. */
    private readonly rateAfterFrames = 10,
    /** A gap this long (a device reopened) starts the period's measurement again. */
    private readonly restartMs = 1_000,
  ) {
    this.leads = new Array<number>(Math.max(1, Math.ceil(leadWindowMs / frameMs))).fill(0);
    this.requests = new Float64Array(rateWindowFrames);
    this.periodMs = frameMs;
  }

  /** Playout time of the frame requested at wall time `nowMs`. */
  next(nowMs: number): number {
    if (this.playoutMs === null) {
      this.playoutMs = nowMs;
    } else {
      const predicted = this.playoutMs + this.periodMs;
      const error = nowMs - predicted;
      if (Math.abs(error) > this.restartMs) this.requestCount = 0;
      this.playoutMs = Math.abs(error) > this.resyncMs ? nowMs : predicted + this.pull * error;
    }
    this.measurePeriod(nowMs);
    this.rememberLead(this.playoutMs - nowMs);
    return this.playoutMs;
  }

  /** The most a recent frame was requested ahead of its playout time (never negative). */
  get leadMs(): number {
    this.cachedLeadMs ??= Math.max(0, ...this.leads);
    return this.cachedLeadMs;
  }

  /** Wall-clock ms the device takes to play one ms of audio (1 for a card at its nominal rate). */
  get msPerMediaMs(): number {
    return this.periodMs / this.frameMs;
  }

  private measurePeriod(nowMs: number): void {
    this.requests[this.requestCount % this.rateWindowFrames] = nowMs;
    this.requestCount++;
    const span = Math.min(this.requestCount, this.rateWindowFrames) - 1;
    if (span < this.rateAfterFrames) {
      this.periodMs = this.frameMs;
      return;
    }
    const oldest = this.requests[(this.requestCount - 1 - span) % this.rateWindowFrames];
    const measured = (nowMs - oldest) / span;
    // A card more than 1.5x off is not a slow card but a stall the window has not yet left.
    this.periodMs = Math.min(1.5 * this.frameMs, Math.max(this.frameMs / 1.5, measured));
  }

  private rememberLead(leadMs: number): void {
    this.leads[this.leadIndex] = leadMs;
    this.leadIndex = (this.leadIndex + 1) % this.leads.length;
    this.cachedLeadMs = null;
  }
}
