/**
 * The mouth-to-ear benchmark's test signal and its analysis: sentences of speech-like sound, each
 * led by a short chirp on a 20 ms boundary, so that every sentence's delay can be measured where
 * it comes out of the speaker, and the speech itself compared with what went in.
 */
import { speechLikeSignal } from '../../test/support/audio-analysis.js';
import { locateSignal } from '../../test/support/alsa-signal.js';
import { MIC_CHUNK_SAMPLES, SAMPLE_RATE, type CardRecording } from '../../test/support/paced-card.js';

/**
 * 80 ms, 400 -> 3400 Hz. A 40 ms chirp is mangled by Opus at the shipped complexity (1) when it
 * does not start on one of Opus's 20 ms frames (0 of 10 matched 10 ms off a boundary, where the
 * capture processing's delay puts it); an 80 ms one matches at every offset. But a receiver
 * following a sender whose card runs 10% off time-scales its audio, cutting or repeating pitch
 * periods inside the chirp, which broke the 80 ms match (test/cli/clock-skew.test.ts: 2 of 5):
 * so where the whole chirp does not match, either half of it may (locateMarker).
 */
const CHIRP_SAMPLES = 3840;
const HALF_CHIRP_SAMPLES = CHIRP_SAMPLES / 2;
/** A chirp (or half of one) matches at this normalised correlation or above. */
export const MARKER_MATCH = 0.6;
const GAP_SAMPLES = 2880; // 60 ms between the chirp and the speech
const SPEECH_SECONDS = 2;
const PAUSE_SAMPLES = 38_400; // 0.8 s after each sentence
const LEVEL_FRAME = 960; // envelope levels per 20 ms

export function chirp(): Int16Array {
  return CHIRP;
}

function makeChirp(): Int16Array {
  const out = new Int16Array(CHIRP_SAMPLES);
  let phase = 0;
  for (let i = 0; i < CHIRP_SAMPLES; i += 1) {
    phase += (2 * Math.PI * (400 + (3000 * i) / CHIRP_SAMPLES)) / SAMPLE_RATE;
    out[i] = Math.round(12_000 * Math.sin(phase) * Math.sin((Math.PI * i) / CHIRP_SAMPLES));
  }
  return out;
}

const CHIRP = makeChirp();

/**
 * Where the chirp starts in `signal` within [from, to), and how well it matched (below
 * MARKER_MATCH: not found): the whole chirp, or else the better of its two halves.
 */
export function locateMarker(signal: Int16Array, from: number, to: number): { index: number; score: number } {
  const whole = locateSignal(signal, CHIRP, from, to);
  if (whole.score >= MARKER_MATCH) return whole;
  const head = locateSignal(signal, CHIRP.subarray(0, HALF_CHIRP_SAMPLES), from, to);
  const tail = locateSignal(signal, CHIRP.subarray(HALF_CHIRP_SAMPLES), from + HALF_CHIRP_SAMPLES, to + HALF_CHIRP_SAMPLES);
  const half = head.score >= tail.score ? head : { index: tail.index < 0 ? -1 : tail.index - HALF_CHIRP_SAMPLES, score: tail.score };
  return half.score > whole.score ? half : whole;
}

export interface MarkedSpeech {
  signal: Int16Array;
  /** Sample offset of each sentence's chirp (multiples of 960). */
  markers: number[];
  /** Sample ranges of the speech (between markers), for the envelope comparison. */
  speech: { from: number; to: number }[];
}

export function markedSpeech(sentences: number): MarkedSpeech {
  const marker = chirp();
  const sentenceSamples = Math.ceil((CHIRP_SAMPLES + GAP_SAMPLES + SPEECH_SECONDS * SAMPLE_RATE + PAUSE_SAMPLES) / MIC_CHUNK_SAMPLES) * MIC_CHUNK_SAMPLES;
  const signal = new Int16Array(sentences * sentenceSamples);
  const markers: number[] = [];
  const speech: { from: number; to: number }[] = [];
  for (let k = 0; k < sentences; k += 1) {
    const start = k * sentenceSamples;
    signal.set(marker, start);
    const words = speechLikeSignal(SPEECH_SECONDS, SAMPLE_RATE, k + 1);
    signal.set(words, start + CHIRP_SAMPLES + GAP_SAMPLES);
    markers.push(start);
    speech.push({ from: start + CHIRP_SAMPLES + GAP_SAMPLES, to: start + CHIRP_SAMPLES + GAP_SAMPLES + words.length });
  }
  return { signal, markers, speech };
}

export interface SentenceResult {
  /** When the chirp's 20 ms went into the microphone (performance.now()). */
  micAt: number;
  /** Mic write of the chirp to the program writing it into the speaker, ms. */
  delayMs: number;
  /** Mic write to the card playing it (includes what waited in the speaker pipe), ms. */
  playedMs: number;
  /** Chirp match (normalised correlation). */
  score: number;
  /** Envelope correlation of this sentence's speech. */
  envelope: number;
}

export interface MouthToEarResult {
  sentences: SentenceResult[];
  /** Sentences whose chirp was found (score >= MARKER_MATCH). */
  found: number;
  medianDelayMs: number;
  medianPlayedMs: number;
  /** Envelope correlation of 20 ms levels over all found sentences' speech. */
  envelope: number;
  /** Speaker time lost to underruns of the program's output while the signal played, ms. */
  speakerGapMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)];
}

function levels(signal: Int16Array, from: number, to: number): number[] {
  const out: number[] = [];
  for (let start = from; start + LEVEL_FRAME <= to; start += LEVEL_FRAME) {
    let sum = 0;
    for (let i = start; i < start + LEVEL_FRAME; i += 1) sum += (signal[i] ?? 0) * (signal[i] ?? 0);
    out.push(Math.sqrt(sum / LEVEL_FRAME));
  }
  return out;
}

function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  if (n < 2) return 0;
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < n; i += 1) {
    meanA += a[i];
    meanB += b[i];
  }
  meanA /= n;
  meanB /= n;
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  for (let i = 0; i < n; i += 1) {
    covariance += (a[i] - meanA) * (b[i] - meanB);
    varianceA += (a[i] - meanA) ** 2;
    varianceB += (b[i] - meanB) ** 2;
  }
  return varianceA === 0 || varianceB === 0 ? 0 : covariance / Math.sqrt(varianceA * varianceB);
}

/**
 * Finds every sentence in what the card's speaker played and measures it:
 *  - delay: from the microphone write of the chunk holding the chirp to the moment the program had
 *    written the chirp's first sample into the speaker (read + waiting in the pipe crossed it);
 *  - played: to the moment the card read it (adds what waited in the one-page pipe);
 *  - envelope: correlation of 20 ms RMS levels of the speech that followed, at the chirp's offset.
 */
export function analyse(speech: MarkedSpeech, recording: CardRecording): MouthToEarResult {
  const micWrites = new Map<number, number>();
  for (const chunk of recording.mic) if (chunk.written && chunk.inputOffset >= 0) micWrites.set(chunk.inputOffset, chunk.at);
  const steps = recording.speaker;
  const stepIndexAt = (at: number) => {
    let low = 0;
    let high = steps.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (steps[middle].at < at) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  const firstStep = (predicate: (step: (typeof steps)[number]) => boolean, from: number) => {
    for (let i = from; i < steps.length; i += 1) if (predicate(steps[i])) return steps[i];
    return undefined;
  };
  const sentences: SentenceResult[] = [];
  const allIn: number[] = [];
  const allOut: number[] = [];
  for (let k = 0; k < speech.markers.length; k += 1) {
    const micAt = micWrites.get(speech.markers[k] * 2);
    if (micAt === undefined) continue;
    // Search from what the speaker had played when the chirp went into the microphone, 1 s on.
    const startStep = steps[stepIndexAt(micAt)];
    const from = Math.floor((startStep?.readBytes ?? 0) / 2);
    const found = locateMarker(recording.output, from, from + SAMPLE_RATE);
    if (found.index < 0 || found.score < MARKER_MATCH) {
      sentences.push({ micAt, delayMs: Number.NaN, playedMs: Number.NaN, score: found.score, envelope: Number.NaN });
      continue;
    }
    const byte = (found.index + 1) * 2;
    const written = firstStep((step) => step.writtenBytes >= byte, stepIndexAt(micAt));
    const played = firstStep((step) => step.readBytes >= byte, stepIndexAt(micAt));
    const range = speech.speech[k];
    const offset = found.index - speech.markers[k];
    const inLevels = levels(speech.signal, range.from, range.to);
    const outLevels = levels(recording.output, range.from + offset, range.to + offset);
    allIn.push(...inLevels);
    allOut.push(...outLevels);
    sentences.push({
      micAt,
      delayMs: written ? written.at - micAt : Number.NaN,
      playedMs: played ? played.at - micAt : Number.NaN,
      score: found.score,
      envelope: pearson(inLevels, outLevels),
    });
  }
  const good = sentences.filter((sentence) => Number.isFinite(sentence.delayMs));
  // Underruns: time the card wanted to play and found the pipe empty, while the speech played.
  const firstMic = Math.min(...[...micWrites.values()]);
  const lastMic = Math.max(...[...micWrites.values()]);
  let gapBytes = 0;
  // The card logs every 1 ms step and reads on every 5th (steps[0] is a reading step): count the
  // reads that found the pipe empty, 5 ms each.
  for (let i = Math.max(1, stepIndexAt(firstMic + 300)); i < steps.length && steps[i].at <= lastMic; i += 1) {
    if (i % 5 === 0 && steps[i].writtenBytes === steps[i - 1].readBytes) gapBytes += 480;
  }
  return {
    sentences,
    found: good.length,
    medianDelayMs: median(good.map((sentence) => sentence.delayMs)),
    medianPlayedMs: median(good.map((sentence) => sentence.playedMs)),
    envelope: pearson(allIn, allOut),
    speakerGapMs: gapBytes / 96,
  };
}
