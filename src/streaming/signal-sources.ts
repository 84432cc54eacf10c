import { readFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { SAMPLE_RATE } from '../codec/codec.js';

/** Yields consecutive frames of PCM; returns null when the signal has ended. */
export interface FrameSource {
  nextFrame(): Int16Array | null;
}

/** A continuous sine tone, phase-continuous across frames (the default test signal of `intercom send`). */
export function toneSource(options: { frequencyHz?: number; amplitude?: number; frameSamples: number }): FrameSource {
  const frequency = options.frequencyHz ?? 440;
  const amplitude = (options.amplitude ?? 0.3) * 32767;
  let sampleIndex = 0;
  return {
    nextFrame() {
      const frame = new Int16Array(options.frameSamples);
      for (let i = 0; i < frame.length; i += 1) {
        frame[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * (sampleIndex + i)) / SAMPLE_RATE));
      }
      sampleIndex += frame.length;
      return frame;
    },
  };
}

/** Plays a buffer of samples once, frame by frame; the last frame is padded with silence. */
export function bufferSource(samples: Int16Array, frameSamples: number): FrameSource {
  let offset = 0;
  return {
    nextFrame() {
      if (offset >= samples.length) return null;
      const frame = new Int16Array(frameSamples);
      frame.set(samples.subarray(offset, offset + frameSamples));
      offset += frameSamples;
      return frame;
    },
  };
}

/**
 * Reads a WAV file of any common sample rate, depth and channel count and returns it as 48 kHz
 * mono 16-bit samples (channels are averaged), which is what goes on the wire.
 */
export async function readWavAsMono48k(file: string): Promise<Int16Array> {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(await readFile(file));
  } catch (error) {
    throw new Error(`${file} is not a readable WAV file: ${(error as Error).message}`);
  }
  const format = wav.fmt as { numChannels: number; sampleRate: number };
  if ((wav.bitDepth as string) !== '16') wav.toBitDepth('16');
  if (format.sampleRate !== SAMPLE_RATE) wav.toSampleRate(SAMPLE_RATE, { method: 'sinc' });
  const channels = format.numChannels;
  const raw = wav.getSamples(false, Int16Array) as unknown as Int16Array | Int16Array[];
  if (channels === 1) return Int16Array.from(raw as Int16Array);
  const perChannel = raw as Int16Array[];
  const mono = new Int16Array(perChannel[0].length);
  for (let i = 0; i < mono.length; i += 1) {
    let sum = 0;
    for (const channel of perChannel) sum += channel[i];
    mono[i] = Math.round(sum / channels);
  }
  return mono;
}
