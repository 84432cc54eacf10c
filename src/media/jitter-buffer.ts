import { SAMPLE_RATE, type Decoder } from '../codec/codec.js';
import { PlayoutClock } from './playout-clock.js';
import { DelayManager, type DelayManagerOptions } from './delay-manager.js';
import { DriftEstimator } from './drift-estimator.js';
import { InterarrivalJitter } from './interarrival-jitter.js';
import type { MediaPacket } from './media-packet.js';
import { PcmFifo } from './pcm-fifo.js';
import { emptyReceiveStats, type ReceiveStats } from './receive-stats.js';
import { MAX_DROPOUT, MAX_MISORDER, WrapUnwrapper } from './sequence-unwrap.js';
import { accelerate, expand, type TimeScaleResult } from './time-scaler.js';

/** Only late packets for this long means the sender restarted with lower numbers. */
const RESTART_AFTER_LATE_PACKETS = 25;
/**
 * Accelerating needs some excess over the target, so the noise of the delay estimate does not
 * flip-flop between accelerate and expand: when only leftover samples are trimmed, 2 ms; when the
 * fetch point moves a whole frame earlier, it must land at least a quarter millisecond (one
 * histogram bucket) above the target; more would keep the delay a frame too high whenever the
 * playback clock's phase puts a fetch point just above the target.
 */
const ACCELERATE_HYSTERESIS_MS = 2;
/** A packet that would play later than jitter.maxMs by more than this is dropped (when a later one is here). */
const MAX_DELAY_SLACK_MS = 1;
const STEP_DOWN_HYSTERESIS_MS = 0.25;
/**
 * The band a device that takes all that is decoded is steered into, around the target: wide
 * enough that no correction overshoots it (see scaleTakenWhole).
 */
const TAKEN_WHOLE_ABOVE_MS = 4;
const TAKEN_WHOLE_BELOW_MS = 1;
/** Pitch correlation needed to time-scale loud audio when there is no hurry, and when there is. */
const RELAXED_CORRELATION = 0.9;
const URGENT_CORRELATION = 0.5;
const DUPLICATE_MEMORY_PACKETS = 1024;
const UNDERRUN_CONCEAL_MS = 100;
/**
 * After a loss that in-band FEC could repair only with a frame more of delay (the next packet,
 * which carries the lost one's FEC, came within a frame after the lost one was due), the floor
 * stays a frame higher for this long.
 */
const LOSS_MEMORY_MS = 15_000;
/** Fade from the last played sample to the silence of a pause, so a stream's end does not click. */
const SILENCE_RAMP_SAMPLES = 96;

export interface JitterBufferOptions {
  decoder: Decoder;
  frameSamples: number;
  /** Playout delay bounds (config jitter.minMs / jitter.maxMs). */
  minMs: number;
  maxMs: number;
  sampleRate?: number;
  /** Tuning of the target-delay estimator; defaults suit a LAN or Wi-Fi intercom. */
  delay?: Pick<DelayManagerOptions, 'quantile' | 'forgetFactor'>;
  /** Called for every packet when it is taken for playout; for measurements and benchmarks. */
  onPlayout?: (event: PlayoutEvent) => void;
  /** Raise the floor a frame while losses need it for in-band FEC (default true; off for comparison). */
  lossFloor?: boolean;
}

export interface PlayoutEvent {
  /** The packet's sequence number and RTP timestamp as sent. */
  sequence: number;
  timestamp: number;
  arrivalMs: number;
  /** When its first sample plays: `nowMs` of the readFrame that returns it, plus its offset in that frame. */
  playoutMs: number;
  /** Where its first sample is in the output: samples returned by readFrame before it, since the start. */
  outputSample: number;
}

interface BufferedPacket {
  payload: Uint8Array;
  timestamp: number;
  arrivalMs: number;
}

/**
 * Adaptive jitter buffer pulled by the playback clock: `insert` packets as they arrive, call
 * `readFrame(now)` once per playback period and get exactly `frameSamples` samples back.
 *
 * Timeline: packets are played in sequence order. A packet due for playout that is missing while a
 * later one has arrived is lost: the decoder rebuilds it from the next packet's FEC or conceals it,
 * one frame per missing packet. When nothing at all has arrived (an underrun: the network is
 * slower than our delay), the buffer plays concealment *without* moving the timeline on, which
 * adds one frame of delay instead of losing the packet that is still on its way; if that packet
 * turns out to be lost, the next one follows without a second concealment.
 *
 * Delay: "fetch delay" is how long after its fastest-path arrival time (see DelayManager) a packet
 * is taken for playout; a packet arrives in time exactly when its relative delay does not exceed
 * the fetch delay. The buffer steers the fetch delay to the DelayManager's target by time-scaling
 * decoded frames (TimeScaler), never by skipping or repeating frames, and also keeps the few
 * samples left over in its output FIFO small, since they add delay without protecting anything.
 * The playout delay the listener hears is fetch delay + leftover.
 */
export class JitterBuffer {
  private readonly decoder: Decoder;
  private readonly frameSamples: number;
  private readonly sampleRate: number;
  private readonly frameMs: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly maxGapFrames: number;
  private readonly onPlayout?: (event: PlayoutEvent) => void;
  private readonly lossFloor: boolean;

  private readonly counters: ReceiveStats = emptyReceiveStats();
  private readonly delay: DelayManager;
  private readonly jitter: InterarrivalJitter;
  private readonly senderClock = new DriftEstimator();
  private readonly playbackClock = new DriftEstimator();
  private readonly playoutClock: PlayoutClock;
  private readonly fifo = new PcmFifo();

  private ssrc: number | null = null;
  private readonly previousSsrcs: number[] = [];
  private readonly sequences = new WrapUnwrapper(16);
  private readonly timestamps = new WrapUnwrapper(32);
  private readonly packets = new Map<number, BufferedPacket>();
  private readonly seen = new Set<number>();
  /** Slots played as lost whose packet may still turn up late. */
  private readonly missed = new Set<number>();
  private highestSequence: number | null = null;
  /** The last two buffered packets in order of arrival: where the stream is now. */
  private lastArrivedSequence: number | null = null;
  private previousArrivedSequence: number | null = null;
  private nextSequence: number | null = null;
  private playing = false;
  private underrunFrames = 0;
  /** Frames of underrun concealment that stand in for packets which may turn out lost. */
  private concealedAhead = 0;
  private probationSequence: number | null = null;
  private consecutiveLate = 0;
  private lastOutputSample = 0;
  private playedSamples = 0;
  private outputDelayMs = 0;
  /** Fetch delay + leftover of the last packet played: the buffer's own share of the delay. */
  private bufferDelayMs = 0;
  private nowMs = 0;
  /**
   * How far apart the reads that can take a packet are (a frame, or what the device asks at a
   * time); 0 when each read takes all that is decoded, so a packet is taken exactly when due.
   */
  private fetchStepMs = 0;
  /** When a loss last needed a frame more of delay for its FEC to be in time. */
  private lastLossAtMs: number | null = null;
  /** Packets after a missing one that had not arrived when it was due: sequence -> that time. */
  private readonly fecAwaited = new Map<number, number>();

  constructor(options: JitterBufferOptions) {
    this.decoder = options.decoder;
    this.frameSamples = options.frameSamples;
    this.sampleRate = options.sampleRate ?? SAMPLE_RATE;
    this.frameMs = (this.frameSamples * 1000) / this.sampleRate;
    this.minMs = options.minMs;
    this.maxMs = options.maxMs;
    this.maxGapFrames = Math.max(2, Math.ceil(options.maxMs / this.frameMs));
    this.onPlayout = options.onPlayout;
    this.lossFloor = options.lossFloor ?? true;
    this.delay = new DelayManager({ minMs: options.minMs, maxMs: options.maxMs, ...options.delay });
    this.jitter = new InterarrivalJitter(this.sampleRate);
    this.playoutClock = new PlayoutClock(this.frameMs);
  }

  /** Takes one parsed packet; never throws. `arrivalMs` on the same clock as readFrame's `nowMs`. */
  insert(packet: MediaPacket, arrivalMs: number): void {
    this.counters.packetsReceived++;
    if (this.ssrc === null) {
      this.ssrc = packet.ssrc;
    } else if (packet.ssrc !== this.ssrc) {
      if (this.previousSsrcs.includes(packet.ssrc)) {
        this.counters.packetsFromOldStream++;
        return;
      }
      this.previousSsrcs.push(this.ssrc);
      if (this.previousSsrcs.length > 4) this.previousSsrcs.shift();
      this.startNewStream();
      this.ssrc = packet.ssrc;
    }

    if (this.highestSequence !== null) {
      const jump = this.sequences.extend(packet.sequence) - this.highestSequence;
      if (jump > MAX_DROPOUT || jump < -MAX_MISORDER) {
        if (packet.sequence !== this.probationSequence) {
          this.probationSequence = (packet.sequence + 1) & 0xffff;
          this.counters.packetsDiscarded++;
          return;
        }
        this.startNewStream();
      }
    }
    this.probationSequence = null;

    const sequence = this.sequences.unwrap(packet.sequence);
    const timestamp = this.timestamps.unwrap(packet.timestamp);
    if (this.seen.has(sequence)) {
      this.counters.packetsDuplicated++;
      // The copy waiting for this slot came longer before this one than the maximum delay: it
      // cannot have been sent in time for the slot (a corrupted or forged sequence number far
      // ahead), so the one arriving now, at the stream's pace, is played instead.
      const waiting = this.packets.get(sequence);
      if (waiting && arrivalMs - waiting.arrivalMs > this.maxMs) this.packets.set(sequence, { payload: packet.payload, timestamp, arrivalMs });
      return;
    }
    this.remember(sequence);
    const lostDueMs = this.fecAwaited.get(sequence);
    if (lostDueMs !== undefined) {
      this.fecAwaited.delete(sequence);
      if (arrivalMs <= lostDueMs + this.frameMs) this.lastLossAtMs = arrivalMs;
    }
    const mediaMs = this.toMs(timestamp);
    this.jitter.update(arrivalMs, timestamp);
    this.delay.update(arrivalMs, mediaMs);
    this.senderClock.add(mediaMs, arrivalMs);

    if (this.nextSequence !== null && sequence < this.nextSequence) {
      this.counters.packetsLate++;
      if (this.missed.delete(sequence)) this.counters.packetsLost--;
      if (++this.consecutiveLate >= RESTART_AFTER_LATE_PACKETS) this.startNewStream();
      return;
    }
    this.consecutiveLate = 0;
    if (this.highestSequence !== null && sequence < this.highestSequence) this.counters.packetsReordered++;
    if (this.highestSequence === null || sequence > this.highestSequence) this.highestSequence = sequence;
    this.packets.set(sequence, { payload: packet.payload, timestamp, arrivalMs });
    this.previousArrivedSequence = this.lastArrivedSequence;
    this.lastArrivedSequence = sequence;
  }

  /**
   * Returns exactly `samples` samples to play now (a frame unless asked otherwise).
   * `outputDelayMs`: how long the sound device holds them before they are heard (reported in the
   * delay figures; the device's own business).
   */
  readFrame(requestedAtMs: number, outputDelayMs = 0, samples = this.frameSamples): Int16Array {
    const nowMs = this.beginRead(requestedAtMs, outputDelayMs, this.toMs(samples));
    while (this.fifo.length < samples) this.produce(nowMs);
    return this.endRead(this.fifo.take(samples), nowMs);
  }

  /**
   * For a device that plays whatever it is given: at least `minSamples`, and with them everything
   * already decoded (a packet, time-scaled, is at most a frame and a half). The device then asks
   * again just when the next packet is due, wherever time-scaling moved that, so each packet is
   * taken as soon as its delay reaches the target: with fixed reads of a frame, the fetch point
   * sits up to a frame above the target (half a frame of delay lost on average).
   */
  readAvailable(requestedAtMs: number, outputDelayMs: number, minSamples: number): Int16Array {
    const nowMs = this.beginRead(requestedAtMs, outputDelayMs, 0);
    while (this.fifo.length < minSamples) this.produce(nowMs);
    const pcm = this.fifo.take(this.fifo.length);
    this.playoutClock.took(this.toMs(pcm.length));
    return this.endRead(pcm, nowMs);
  }

  /** `stepMs`: how far apart reads find the FIFO short (0: each read takes all, see readAvailable). */
  private beginRead(requestedAtMs: number, outputDelayMs: number, stepMs: number): number {
    this.outputDelayMs = outputDelayMs;
    const nowMs = this.playoutClock.next(requestedAtMs, stepMs > 0 ? stepMs : 'later');
    this.nowMs = nowMs;
    this.fetchStepMs = Math.min(this.frameMs, stepMs);
    this.adaptFloor(nowMs);
    return nowMs;
  }

  private endRead(pcm: Int16Array, nowMs: number): Int16Array {
    if (pcm.length > 0) this.lastOutputSample = pcm[pcm.length - 1];
    this.playedSamples += pcm.length;
    this.playbackClock.add(this.toMs(this.playedSamples), nowMs);
    return pcm;
  }

  /** Counts a datagram that never became a packet (the receiver's parser rejected it). */
  recordMalformed(): void {
    this.counters.packetsMalformed++;
  }

  stats(): ReceiveStats {
    return {
      ...this.counters,
      currentDelayMs: this.bufferDelayMs + this.outputDelayMs,
      targetDelayMs: this.targetMs() + this.outputDelayMs,
      outputDelayMs: this.outputDelayMs,
      networkTargetMs: this.delay.targetMs,
      requestLeadMs: this.playoutClock.leadMs,
      jitterMs: this.jitter.jitterMs,
      driftPpm: this.senderClock.ppm - this.playbackClock.ppm,
    };
  }

  private produce(nowMs: number): void {
    if (!this.playing && !this.tryStart(nowMs)) {
      this.pushSilence();
      return;
    }
    const sequence = this.nextSequence!;
    const packet = this.packets.get(sequence);
    if (packet) this.playPacket(sequence, packet, nowMs);
    else if (this.packets.size === 0) this.playUnderrun();
    else {
      const first = this.earliestBuffered();
      if (first - sequence <= this.maxGapFrames) this.playMissing(sequence);
      // Only packets far ahead are here. Skip to them once the stream goes on there; a lone one
      // (a corrupted or forged sequence number) would otherwise take the whole stream with it,
      // every real packet after it late until the buffer restarts half a second later.
      else if (this.streamMovedPast(first)) this.skipGap(first);
      else this.playUnderrun();
    }
  }

  /** Whether the last two packets to arrive both lie at or beyond `sequence`. */
  private streamMovedPast(sequence: number): boolean {
    return this.lastArrivedSequence !== null && this.previousArrivedSequence !== null && this.lastArrivedSequence >= sequence && this.previousArrivedSequence >= sequence;
  }

  private earliestBuffered(): number {
    let first = Infinity;
    for (const sequence of this.packets.keys()) first = Math.min(first, sequence);
    return first;
  }

  /**
   * More packets missing than the maximum delay could hold (the sender skipped ahead): concealing
   * each would play seconds of filler, so count them lost and continue at the next packet.
   */
  private skipGap(first: number): void {
    for (let sequence = this.nextSequence!; sequence < first; sequence++) this.markMissed(sequence);
    this.nextSequence = first;
    this.endUnderrun();
    this.concealedAhead = 0;
  }

  /**
   * Starts (or resumes after a pause) from the earliest buffered packet once a buffered packet has
   * waited the target delay. Normally that is the earliest; but one whose timestamp lies far ahead
   * of its sequence number (corrupted, or forged by anyone who can send to the port) would hold
   * the start for as long as it claims while the stream itself piled up behind it.
   */
  private tryStart(nowMs: number): boolean {
    if (this.packets.size === 0) return false;
    const target = this.targetMs();
    let ready = false;
    for (const packet of this.packets.values()) {
      if (this.fetchDelayMs(packet, nowMs) >= target) {
        ready = true;
        break;
      }
    }
    if (!ready) return false;
    const first = this.earliestBuffered();
    if (this.nextSequence !== null) {
      for (let sequence = this.nextSequence; sequence < first; sequence++) this.markMissed(sequence);
    }
    this.nextSequence = first;
    this.playing = true;
    this.underrunFrames = 0;
    this.concealedAhead = 0;
    return true;
  }

  private playPacket(sequence: number, packet: BufferedPacket, nowMs: number): void {
    this.packets.delete(sequence);
    this.nextSequence = sequence + 1;
    this.endUnderrun();
    this.concealedAhead = 0;
    const fetchDelayMs = this.fetchDelayMs(packet, nowMs);
    const leftoverMs = this.leftoverMs();
    if (this.packets.has(sequence + 1) && (fetchDelayMs + leftoverMs > this.maxMs + MAX_DELAY_SLACK_MS || nowMs - packet.arrivalMs > this.maxMs)) {
      // It would play later than the configured maximum (a flood after a long stall, a sender
      // whose clock runs faster, or a device that plays slower, than time-scaling can follow):
      // catch up by dropping. The second test needs no fastest-path line: a packet that has
      // waited here longer than the maximum plays too late whatever the line says.
      this.counters.packetsDiscarded++;
      return;
    }
    let pcm: Int16Array;
    try {
      pcm = this.decoder.decode(packet.payload);
      if (pcm.length === 0) throw new RangeError('decoder returned no samples');
    } catch {
      this.counters.packetsMalformed++;
      this.fifo.push(this.conceal());
      return;
    }
    this.bufferDelayMs = fetchDelayMs + leftoverMs;
    this.onPlayout?.({ sequence: sequence % 0x10000, timestamp: packet.timestamp % 2 ** 32, arrivalMs: packet.arrivalMs, playoutMs: nowMs + leftoverMs, outputSample: this.playedSamples + this.fifo.length });
    this.fifo.push(this.scaleTowardTarget(pcm, fetchDelayMs, this.packets.has(sequence + 1)));
  }

  private playMissing(sequence: number): void {
    this.nextSequence = sequence + 1;
    this.endUnderrun();
    this.markMissed(sequence);
    this.noteLossForFec(sequence);
    if (this.concealedAhead > 0) {
      // An underrun already played concealment in this packet's place.
      this.concealedAhead--;
      return;
    }
    const next = this.packets.get(sequence + 1);
    if (next && this.decoder.canRecoverFromNext) {
      let recovered: Int16Array | null = null;
      try {
        recovered = this.decoder.recoverFromNext(next.payload, this.frameSamples);
      } catch {
        recovered = null;
      }
      if (recovered && recovered.length > 0) {
        this.counters.packetsRecovered++;
        this.fifo.push(recovered);
        return;
      }
    }
    this.fifo.push(this.conceal());
  }

  private playUnderrun(): void {
    this.underrunFrames++;
    this.concealedAhead++;
    // Concealment beyond ~100 ms only buzzes or hisses; silence stands in for the rest of the wait.
    if (this.underrunFrames * this.frameMs <= UNDERRUN_CONCEAL_MS) this.fifo.push(this.conceal());
    else this.pushSilence();
    if (this.underrunFrames * this.frameMs > this.maxMs) {
      // The sender has stopped or the path is down: wait for it like at the start of a stream.
      this.playing = false;
      this.concealedAhead = 0;
    }
  }

  private scaleTowardTarget(pcm: Int16Array, fetchDelayMs: number, nextHere: boolean): Int16Array {
    const excess = fetchDelayMs - this.targetMs();
    if (this.fetchStepMs === 0) return this.scaleTakenWhole(pcm, excess, nextHere);
    let result: TimeScaleResult | null = null;
    // A packet is taken by the read that finds the FIFO short, so shortening a frame moves the next
    // one's fetch a whole read earlier: at most as many reads as the excess holds, so the fetch
    // point lands at or above the target.
    const stepMs = this.fetchStepMs;
    if (excess >= stepMs + STEP_DOWN_HYSTERESIS_MS) {
      const urgent = excess > 3 * this.frameMs;
      const removableMs = Math.floor((excess - STEP_DOWN_HYSTERESIS_MS) / stepMs) * stepMs;
      result = accelerate(pcm, {
        maxSamples: Math.min(pcm.length >> 1, Math.floor((removableMs * this.sampleRate) / 1000)),
        minCorrelation: urgent ? URGENT_CORRELATION : RELAXED_CORRELATION,
      });
    } else if (excess >= ACCELERATE_HYSTERESIS_MS && this.fifo.length > 0) {
      // In time, but samples wait in the FIFO: shorten this frame by up to that much.
      result = accelerate(pcm, { maxSamples: this.fifo.length, minCorrelation: RELAXED_CORRELATION });
    } else if (excess < 0) {
      // Below the target with the next packet not here yet: without stretching this one the
      // buffer runs dry at the next frame and plays concealment (a sender whose clock is slow
      // gets there every few frames), so a less perfect period is better than none.
      result = expand(pcm, {
        maxSamples: pcm.length >> 1,
        minCorrelation: excess < -this.frameMs || !nextHere ? URGENT_CORRELATION : RELAXED_CORRELATION,
      });
    }
    return this.counted(result, pcm);
  }

  /**
   * For a device that takes all that is decoded (readAvailable): the next packet is taken exactly
   * as much earlier (later) as this one is shortened (lengthened), so the fetch point is steered
   * into a band around the target, [target - TAKEN_WHOLE_BELOW_MS, target + TAKEN_WHOLE_ABOVE_MS),
   * and a correction lands inside it: a pitch period is 2.5-15 ms, and one that overshot the band
   * would be undone by the next frame, and that again by the one after (time-scaling all call long).
   */
  private scaleTakenWhole(pcm: Int16Array, excess: number, nextHere: boolean): Int16Array {
    const toSamples = (ms: number) => Math.max(0, Math.floor((ms * this.sampleRate) / 1000));
    let result: TimeScaleResult | null = null;
    if (excess >= TAKEN_WHOLE_ABOVE_MS) {
      const urgent = excess > 3 * this.frameMs;
      result = accelerate(pcm, { maxSamples: Math.min(pcm.length >> 1, toSamples(excess + TAKEN_WHOLE_BELOW_MS)), minCorrelation: urgent ? URGENT_CORRELATION : RELAXED_CORRELATION });
    } else if (excess < -TAKEN_WHOLE_BELOW_MS) {
      result = expand(pcm, {
        maxSamples: Math.min(pcm.length >> 1, toSamples(TAKEN_WHOLE_ABOVE_MS - excess)),
        minCorrelation: excess < -this.frameMs || !nextHere ? URGENT_CORRELATION : RELAXED_CORRELATION,
      });
    }
    return this.counted(result, pcm);
  }

  private counted(result: TimeScaleResult | null, pcm: Int16Array): Int16Array {
    if (!result) return pcm;
    this.counters.timeScaledMs += this.toMs(Math.abs(result.changedSamples));
    return result.pcm;
  }

  /**
   * An underrun is counted when playback resumes after running dry, so a stream that simply ends
   * (the sender stopped) is not reported as one.
   */
  private endUnderrun(): void {
    if (this.underrunFrames > 0) this.counters.underruns++;
    this.underrunFrames = 0;
  }

  private conceal(): Int16Array {
    this.counters.concealedMs += this.frameMs;
    try {
      const pcm = this.decoder.conceal(this.frameSamples);
      if (pcm.length > 0) return pcm;
    } catch {
      // A decoder that cannot conceal gets silence instead.
    }
    return new Int16Array(this.frameSamples);
  }

  private pushSilence(): void {
    const silence = new Int16Array(this.frameSamples);
    const from = this.fifo.length > 0 ? this.fifo.last : this.lastOutputSample;
    if (from !== 0) {
      const ramp = Math.min(SILENCE_RAMP_SAMPLES, this.frameSamples);
      for (let i = 0; i < ramp; i++) silence[i] = Math.round(from * (1 - (i + 1) / ramp));
    }
    this.fifo.push(silence);
  }

  private markMissed(sequence: number): void {
    this.counters.packetsLost++;
    this.missed.add(sequence);
    if (this.missed.size > DUPLICATE_MEMORY_PACKETS) this.prune(this.missed);
  }

  private remember(sequence: number): void {
    this.seen.add(sequence);
    if (this.seen.size > 2 * DUPLICATE_MEMORY_PACKETS) this.prune(this.seen);
  }

  private prune(set: Set<number>): void {
    const newest = this.highestSequence ?? 0;
    for (const sequence of set) if (sequence < newest - DUPLICATE_MEMORY_PACKETS) set.delete(sequence);
  }

  /**
   * Fetch delay to aim for: what the network needs (DelayManager) plus how far ahead of playout
   * time the device asks for frames, since a packet must have arrived by the time it is asked for.
   * At most two frames below jitter.maxMs: the fetch delay is steered within a frame above its
   * target and the output FIFO holds up to a frame more, and the whole must stay within the
   * maximum. A frame closer and every few packets was dropped for passing it, then the gap
   * stretched back: a third of the audio lost at a steady delay.
   */
  private targetMs(): number {
    return Math.min(Math.max(this.minMs, this.maxMs - 2 * this.frameMs), this.delay.targetMs + this.playoutClock.leadMs);
  }

  /** How long the samples waiting in the output FIFO take to play, on the device's own clock. */
  private leftoverMs(): number {
    return this.toMs(this.fifo.length) * this.playoutClock.msPerMediaMs;
  }

  /** How long after its fastest-path arrival time a packet is being taken for playout. */
  private fetchDelayMs(packet: BufferedPacket, nowMs: number): number {
    const mediaMs = this.toMs(packet.timestamp);
    return nowMs - (this.delay.baseOffsetAt(mediaMs) ?? packet.arrivalMs - mediaMs) - mediaMs;
  }

  /**
   * Whether a frame more of delay would let (or lets) in-band FEC repair this lost packet: the
   * next packet arrived, or arrives, within a frame after the lost one was due.
   */
  private noteLossForFec(sequence: number): void {
    if (!this.lossFloor || !this.decoder.canRecoverFromNext) return; // (L16, seed: no FEC to wait for)
    const next = this.packets.get(sequence + 1);
    if (next) {
      if (next.arrivalMs > this.nowMs - this.frameMs) this.lastLossAtMs = this.nowMs;
      return;
    }
    this.fecAwaited.set(sequence + 1, this.nowMs);
    for (const [awaited, dueMs] of this.fecAwaited) if (dueMs < this.nowMs - 4 * this.frameMs) this.fecAwaited.delete(awaited);
  }

  /**
   * The floor is jitter.minMs on a clean link; while packets are being lost and a frame more
   * would let their in-band FEC arrive in time, it is a frame above what the network needs.
   * Lowered again after LOSS_MEMORY_MS without such a loss.
   */
  private adaptFloor(nowMs: number): void {
    const lossy = this.lastLossAtMs !== null && nowMs - this.lastLossAtMs < LOSS_MEMORY_MS;
    this.delay.setFloor(lossy ? Math.max(this.minMs, this.delay.networkMs) + this.frameMs : this.minMs);
  }

  private toMs(samples: number): number {
    return (samples * 1000) / this.sampleRate;
  }

  private startNewStream(): void {
    if (this.highestSequence !== null) this.counters.streamResets++;
    this.packets.clear();
    this.seen.clear();
    this.missed.clear();
    this.sequences.reset();
    this.timestamps.reset();
    this.highestSequence = null;
    this.lastArrivedSequence = null;
    this.previousArrivedSequence = null;
    this.nextSequence = null;
    this.playing = false;
    this.underrunFrames = 0;
    this.concealedAhead = 0;
    this.probationSequence = null;
    this.consecutiveLate = 0;
    this.delay.rebase();
    this.fecAwaited.clear();
    this.jitter.restartStream();
    this.senderClock.reset();
  }
}
