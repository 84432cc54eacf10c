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
 * buffer steered and reported would be off by up to that much. The period is the median, over the
 * last two seconds, of the mean spacing of eight requests: a burst of up to eight frames averages
 * out within each, and a stall (late requests, then a burst that catches up) spoils only the few
 * that span it, so the median ignores it.
 *
 * A frame must nonetheless be *ready* when the device asks for it, which in a burst is before its
 * playout time: `leadMs` is how far ahead of playout time the device has asked recently (the worst
 * case over a couple of seconds). The jitter buffer adds it to its delay target; without it, the
 * second frame of every burst would find its packet not yet arrived and play concealment.
 */
/** Requests whose mean spacing is one measurement of the device's period. */
const SPAN_FRAMES = 8;

export class PlayoutClock {
  private playoutMs: number | null = null;
  private readonly leads: number[];
  private leadIndex = 0;
  private cachedLeadMs: number | null = 0;
  /** Request times of the last SPAN_FRAMES + 1 frames (a ring). */
  private readonly requests = new Float64Array(SPAN_FRAMES + 1);
  private requestCount = 0;
  /** Mean spacing of each recent run of SPAN_FRAMES requests (a ring). */
  private readonly spacings: Float64Array;
  private spacingCount = 0;
  private readonly sortedSpacings: number[] = [];
  private periodMs: number;
  /** Audio asked for since the start, and by the last request. */
  private mediaRequestedMs = 0;
  private lastRequestMs: number;
  /** The largest lead among the requests of the frame being asked for. */
  private frameLeadMs = -Infinity;
  private requestedAtMs = 0;
  /** Media position (ms requested before it) of each of the last SPAN_FRAMES + 1 counted requests (a ring, beside `requests`). */
  private readonly requestPositions = new Float64Array(SPAN_FRAMES + 1);

  constructor(
    private readonly frameMs: number,
    /** Fraction of the remaining error corrected per frame: 0.02 smooths over about a second. */
    private readonly pull = 0.02,
    /** Beyond this disagreement with wall time the device is taken to have stalled: re-anchor. */
    private readonly resyncMs = 120,
    /** How long a request's lead is remembered. */
    leadWindowMs = 2_000,
    /** Spacings over which the device's period is measured (2 s of 20 ms frames). */
    private readonly rateWindowFrames = 100,
    /** Spacings needed before the period is measured rather than assumed. */
    private readonly rateAfterSpacings = 16,
    /** A gap this long (a device reopened) starts the period's measurement again. */
    private readonly restartMs = 1_000,
  ) {
    this.leads = new Array<number>(Math.max(1, Math.ceil(leadWindowMs / frameMs))).fill(0);
    this.spacings = new Float64Array(rateWindowFrames);
    this.periodMs = frameMs;
    this.lastRequestMs = frameMs;
  }

  /**
   * Playout time of the request made at wall time `nowMs` for `requestMs` of audio (a frame, or
   * whatever the device asks for). 'later' (a device that takes what is ready): say how much it
   * took with took() before the next request.
   */
  next(nowMs: number, requestMs: number | 'later' = this.frameMs): number {
    if (this.playoutMs === null) {
      this.playoutMs = nowMs;
    } else {
      const predicted = this.playoutMs + this.lastRequestMs * this.msPerMediaMs;
      const error = nowMs - predicted;
      if (Math.abs(error) > this.restartMs) this.requestCount = this.spacingCount = 0;
      this.playoutMs = Math.abs(error) > this.resyncMs ? nowMs : predicted + this.pull * (this.lastRequestMs / this.frameMs) * error;
    }
    this.requestedAtMs = nowMs;
    this.frameLeadMs = Math.max(this.frameLeadMs, this.playoutMs - nowMs);
    this.cachedLeadMs = null;
    if (requestMs !== 'later') this.took(requestMs);
    return this.playoutMs;
  }

  /**
   * How much audio the last request took. The pace and the leads are kept a frame at a time,
   * however the requests are cut: a request that ends a frame of media counts, with the largest
   * lead among that frame's requests.
   */
  took(requestMs: number): void {
    const framesBefore = Math.floor(this.mediaRequestedMs / this.frameMs + 1e-9);
    this.mediaRequestedMs += requestMs;
    this.lastRequestMs = requestMs;
    if (Math.floor(this.mediaRequestedMs / this.frameMs + 1e-9) > framesBefore) {
      this.measurePeriod(this.requestedAtMs, this.mediaRequestedMs - requestMs);
      this.rememberLead(this.frameLeadMs);
      this.frameLeadMs = -Infinity;
    }
  }

  /** The most a recent frame was requested ahead of its playout time (never negative). */
  get leadMs(): number {
    this.cachedLeadMs ??= Math.max(0, this.frameLeadMs, ...this.leads);
    return this.cachedLeadMs;
  }

  /** Wall-clock ms the device takes to play one ms of audio (1 for a card at its nominal rate). */
  get msPerMediaMs(): number {
    return this.periodMs / this.frameMs;
  }

  /** `positionMs`: the audio requested before the request made at `nowMs`. */
  private measurePeriod(nowMs: number, positionMs: number): void {
    const slot = this.requestCount % (SPAN_FRAMES + 1);
    this.requests[slot] = nowMs;
    this.requestPositions[slot] = positionMs;
    this.requestCount++;
    if (this.requestCount <= SPAN_FRAMES) return;
    const start = (this.requestCount - 1 - SPAN_FRAMES) % (SPAN_FRAMES + 1);
    const mediaMs = positionMs - this.requestPositions[start];
    if (mediaMs <= 0) return;
    // Wall time per frame of media over the span (requests need not be a frame each).
    this.spacings[this.spacingCount % this.rateWindowFrames] = ((nowMs - this.requests[start]) / mediaMs) * this.frameMs;
    this.spacingCount++;
    const count = Math.min(this.spacingCount, this.rateWindowFrames);
    if (count < this.rateAfterSpacings) {
      this.periodMs = this.frameMs;
      return;
    }
    const sorted = this.sortedSpacings;
    sorted.length = 0;
    for (let i = 0; i < count; i++) sorted.push(this.spacings[i]);
    sorted.sort((a, b) => a - b);
    // Beyond 1.5x off is not a card's clock but a stall the window has not yet left.
    this.periodMs = Math.min(1.5 * this.frameMs, Math.max(this.frameMs / 1.5, sorted[count >> 1]));
  }

  private rememberLead(leadMs: number): void {
    this.leads[this.leadIndex] = leadMs;
    this.leadIndex = (this.leadIndex + 1) % this.leads.length;
  }
}
