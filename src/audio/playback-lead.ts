/**
 * How many frames the playback host asks the service for ahead of the device (0 to 3).
 *
 * With no lead the host asks for a frame when the device takes the previous one and gives the
 * service half a frame to answer: the lowest delay, and plenty on a Pi 4. A slow board (a Pi Zero
 * 2 W, a busy Pi 3, an emulated one) can miss that deadline again and again, and every miss is a
 * frame of silence. Then asking ahead gives the service more time, one frame more per step (a
 * device that takes two frames at once needs two), for one frame more of delay each, which the
 * jitter buffer sees as device lead and plans for. Once the service has answered quickly for
 * long enough, the lead is given back a frame at a time.
 *
 * What counts is how often misses start, not how many frames one stall costs: a service that
 * stalls once for 200 ms misses ten frames in a row, and no lead would have helped.
 */
export interface PlaybackLeadOptions {
  /** Half a frame: how long the device can wait for an answer. */
  deadlineMs: number;
  /** Runs of misses within `missWindow` pulls that add a frame of lead. Default 3. */
  missRunsToLead?: number;
  /** Default 250 pulls (5 s of 20 ms frames). */
  missWindow?: number;
  /** Pulls in a row answered within half the deadline that take a frame of lead back. Default 1500 (30 s). */
  quickAnswersToDrop?: number;
  /** Default 3 frames. */
  maxLead?: number;
}

export class PlaybackLead {
  private lead = 0;
  private pulls = 0;
  private lastPullMissed = false;
  private readonly missRunsStartedAt: number[] = [];
  private quickInARow = 0;
  private readonly deadlineMs: number;
  private readonly missRunsToLead: number;
  private readonly missWindow: number;
  private readonly quickAnswersToDrop: number;
  private readonly maxLead: number;

  constructor(options: PlaybackLeadOptions) {
    this.deadlineMs = options.deadlineMs;
    this.missRunsToLead = options.missRunsToLead ?? 3;
    this.missWindow = options.missWindow ?? 250;
    this.quickAnswersToDrop = options.quickAnswersToDrop ?? 1500;
    this.maxLead = options.maxLead ?? 3;
  }

  /** Frames to have asked for beyond the one the device needs next. */
  get frames(): number {
    return this.lead;
  }

  /** The device took a frame (from the service, or silence when `missed`). */
  devicePulled(missed: boolean): void {
    this.pulls += 1;
    const runStarts = missed && !this.lastPullMissed;
    this.lastPullMissed = missed;
    if (!runStarts) return;
    this.missRunsStartedAt.push(this.pulls);
    while (this.missRunsStartedAt.length > 0 && this.missRunsStartedAt[0] <= this.pulls - this.missWindow) this.missRunsStartedAt.shift();
    if (this.lead < this.maxLead && this.missRunsStartedAt.length >= this.missRunsToLead) {
      this.lead += 1;
      this.missRunsStartedAt.length = 0;
      this.quickInARow = 0;
    }
  }

  /** The service answered a request after `answerMs`. */
  answered(answerMs: number): void {
    this.quickInARow = answerMs < this.deadlineMs / 2 ? this.quickInARow + 1 : 0;
    if (this.lead > 0 && this.quickInARow >= this.quickAnswersToDrop) {
      this.lead -= 1;
      this.quickInARow = 0;
    }
  }
}
