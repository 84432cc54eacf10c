import { SAMPLE_RATE } from '../codec/codec.js';
import { clampSample, findPitchPeriodEndingAt, rms } from './pitch.js';

const MIN_PITCH = Math.round(SAMPLE_RATE * 0.0025);
const MAX_PITCH = Math.round(SAMPLE_RATE * 0.015);
const HISTORY_SAMPLES = 2 * MAX_PITCH;
/** Full level for the first 10 ms of a loss, then a linear fade that reaches silence at 60 ms. */
const HOLD_SAMPLES = SAMPLE_RATE * 0.01;
const FADE_END_SAMPLES = SAMPLE_RATE * 0.06;
/** Cross-fade from concealment back into real audio, so the resumption does not click. */
const MERGE_SAMPLES = Math.round(SAMPLE_RATE * 0.0025);
/** Below this level the history is treated as silence and nothing is repeated. */
const SILENT_RMS = 8;

/**
 * Packet-loss concealment for PCM codecs, in the spirit of G.711 Appendix I: a lost frame is filled
 * by repeating the last pitch period of the audio that was played, held at full level for 10 ms and
 * faded to silence by 60 ms (a longer repeat sounds robotic). Repeating whole pitch cycles keeps the
 * waveform continuous where a plain frame repeat would jump at every frame boundary, and silence
 * alone would click. When real audio resumes, its first 2.5 ms are cross-faded with the
 * continuing concealment.
 */
export class PitchConcealer {
  private readonly history = new Int16Array(HISTORY_SAMPLES);
  private historyFilled = 0;
  private cycle: Int16Array | null = null;
  private cyclePosition = 0;
  private concealedSamples = 0;
  private concealing = false;

  /** Feeds decoded audio through; after a concealment, blends its start with the concealment. */
  decoded(pcm: Int16Array): Int16Array {
    if (this.concealing) {
      const merge = Math.min(MERGE_SAMPLES, pcm.length);
      const tail = this.generate(merge);
      for (let i = 0; i < merge; i++) {
        const weight = (i + 1) / (merge + 1);
        pcm[i] = clampSample(tail[i] * (1 - weight) + pcm[i] * weight);
      }
      this.concealing = false;
      this.cycle = null;
    }
    this.remember(pcm);
    return pcm;
  }

  conceal(frameSamples: number): Int16Array {
    if (!this.concealing) {
      this.concealing = true;
      this.concealedSamples = 0;
      this.cycle = this.extractCycle();
      this.cyclePosition = 0;
    }
    const out = this.generate(frameSamples);
    this.remember(out);
    return out;
  }

  private generate(count: number): Int16Array {
    const out = new Int16Array(count);
    const cycle = this.cycle;
    if (!cycle) return out;
    for (let i = 0; i < count; i++) {
      const position = this.concealedSamples + i;
      if (position >= FADE_END_SAMPLES) break;
      const gain = position < HOLD_SAMPLES ? 1 : 1 - (position - HOLD_SAMPLES) / (FADE_END_SAMPLES - HOLD_SAMPLES);
      out[i] = clampSample(cycle[(this.cyclePosition + i) % cycle.length] * gain);
    }
    this.cyclePosition = (this.cyclePosition + count) % cycle.length;
    this.concealedSamples += count;
    return out;
  }

  /** The last pitch period of the history, or null when there is nothing audible to repeat. */
  private extractCycle(): Int16Array | null {
    if (this.historyFilled < HISTORY_SAMPLES) return null;
    if (rms(this.history) < SILENT_RMS) return null;
    const { period } = findPitchPeriodEndingAt(this.history, HISTORY_SAMPLES, MIN_PITCH, MAX_PITCH);
    return this.history.slice(HISTORY_SAMPLES - period);
  }

  private remember(pcm: Int16Array): void {
    if (pcm.length >= HISTORY_SAMPLES) {
      this.history.set(pcm.subarray(pcm.length - HISTORY_SAMPLES));
    } else {
      this.history.copyWithin(0, pcm.length);
      this.history.set(pcm, HISTORY_SAMPLES - pcm.length);
    }
    this.historyFilled = Math.min(HISTORY_SAMPLES, this.historyFilled + pcm.length);
  }
}
