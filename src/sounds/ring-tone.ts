import { readFile } from 'node:fs/promises';

/**
 * Reads the WAV ring tone (audio.ringTone): any sample rate, depth and channel count, returned
 * as 48 kHz mono 16-bit samples (channels averaged). Failures name the config key, so the log
 * says which setting to fix; the caller may fall back to the built-in chime.
 *
 * Why not streaming/signal-sources.ts's readWavAsMono48k: it reads the channel count and rate
 * from wavefile's fmt object after converting the depth, when wavefile has already replaced that
 * object, so every file that is not 16-bit comes out empty or silent (reported to the lead).
 */
type WaveFileClass = typeof import('wavefile').WaveFile;

const SAMPLE_RATE = 48_000;
/** Longest ring tone accepted (it is held in memory: 60 s is 5.8 MB). */
export const MAX_RING_TONE_SECONDS = 60;

export async function loadRingTone(file: string): Promise<Int16Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read by the service (permissions)' : `cannot be read (${(error as Error).message})`;
    throw new Error(`audio.ringTone: ${file} ${reason}`, { cause: error });
  }
  return await wavToMono48k(bytes, `audio.ringTone: ${file}`, MAX_RING_TONE_SECONDS, 'a ring tone');
}

/**
 * A WAV file's audio as 48 kHz mono 16-bit samples (channels averaged); errors start with `label`
 * (what the file is and where it came from). `what` names it in the length limit's message.
 */
export async function wavToMono48k(bytes: Buffer, label: string, maxSeconds: number, what: string): Promise<Int16Array> {
  // Loaded when a WAV is read (a custom ring tone, a recorded page), not with every unit.
  // Node gives the CommonJS build (the class on the default export), tsx the ES module (named).
  const loaded = (await import('wavefile')) as unknown as { WaveFile?: WaveFileClass; default?: { WaveFile: WaveFileClass } };
  const WaveFile = loaded.WaveFile ?? loaded.default!.WaveFile;
  const wav = new WaveFile();
  try {
    wav.fromBuffer(bytes);
  } catch (error) {
    throw new Error(`${label} is not a readable WAV file (${(error as Error).message})`, { cause: error });
  }
  // Read what the header says before any conversion replaces wavefile's fmt object.
  const { numChannels: channels, sampleRate } = wav.fmt as { numChannels: number; sampleRate: number };
  if (!(channels >= 1) || !(sampleRate >= 1000)) throw new Error(`${label} has an unusable format (${channels} channels at ${sampleRate} Hz)`);
  const seconds = wav.getSamples(true).length / channels / sampleRate;
  if (seconds > maxSeconds) throw new Error(`${label} lasts ${seconds.toFixed(0)} s; ${what} may last at most ${maxSeconds} s`);
  try {
    if ((wav.bitDepth as string) !== '16') wav.toBitDepth('16');
    if (sampleRate !== SAMPLE_RATE) wav.toSampleRate(SAMPLE_RATE, { method: 'sinc' });
  } catch (error) {
    throw new Error(`${label} could not be converted to 48 kHz 16-bit (${(error as Error).message})`, { cause: error });
  }
  const interleaved = wav.getSamples(true, Int16Array) as unknown as Int16Array;
  const mono = new Int16Array(Math.floor(interleaved.length / channels));
  for (let i = 0; i < mono.length; i += 1) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel += 1) sum += interleaved[i * channels + channel];
    mono[i] = Math.round(sum / channels);
  }
  if (mono.length === 0) throw new Error(`${label} holds no audio`);
  return mono;
}
