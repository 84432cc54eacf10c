/**
 * The playback device's clock as the jitter buffer sees it. Sound cards (and PortAudio above
 * them) ask for audio in bursts: two 20 ms frames every 40 ms is common. Taking the wall time of
 * each request as its playout time would make every other frame look 20 ms early, and the buffer
 * would time-scale back and forth all call long. Instead each frame plays one frame period after
 * the one before (the device's own clock), gently pulled toward wall time so that the device's
 * real rate (±200 ppm) still shows, and re-anchored when the device stalls or restarts.
 */
export class PlayoutClock {
  private playoutMs: number | null = null;

  constructor(
    private readonly frameMs: number,
    /** Fraction of the remaining error corrected per frame: 0.02 smooths over about a second. */
    private readonly pull = 0.02,
    /** Beyond this disagreement with wall time the device is taken to have stalled: re-anchor. */
    private readonly resyncMs = 120,
  ) {}

  /** Playout time of the frame requested at wall time `nowMs`. */
  next(nowMs: number): number {
    if (this.playoutMs === null) {
      this.playoutMs = nowMs;
      return nowMs;
    }
    const predicted = this.playoutMs + this.frameMs;
    const error = nowMs - predicted;
    this.playoutMs = Math.abs(error) > this.resyncMs ? nowMs : predicted + this.pull * error;
    return this.playoutMs;
  }
}
