/**
 * Real synthesized speech for the room simulator: espeak-ng speaks, sox resamples to 48 kHz mono
 * 16-bit. Nothing is stored in the repository; each utterance is made once per machine and kept
 * under the temporary directory (keyed by a hash of voice, speed and text), so the suites pay
 * ~0.2 s the first time and nothing after. Needs the Debian packages espeak-ng and sox.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CACHE_DIR = path.join(os.tmpdir(), 'pi-intercom-speech-cache');

export interface Utterance {
  text: string;
  /** espeak-ng voice, e.g. "en-us" or "en-us+f3" (a female variant). */
  voice?: string;
  /** Words per minute (espeak-ng's -s). */
  wordsPerMinute?: number;
}

/** The far end: someone inside the flat, speaking to the visitor through the door unit's speaker. */
export const FAR_END_TALK: Utterance[] = [
  { text: 'Hello, who is there? Please speak up, I can barely hear you over the street.', voice: 'en-us' },
  { text: 'Oh, the parcel. Leave it by the blue door on the left, next to the bicycles.', voice: 'en-us' },
  { text: 'I am coming down in a minute. The lift is slow, so please wait for me there.', voice: 'en-us' },
  { text: 'Did you say the second floor? No, that is my neighbour, she moved out in June.', voice: 'en-us' },
];

/** The near end: the visitor at the door, speaking into the unit's microphone. */
export const NEAR_END_TALK: Utterance[] = [
  { text: 'Good morning, I have a delivery for flat twelve, it needs a signature.', voice: 'en-us+f3', wordsPerMinute: 165 },
  { text: 'It is quite heavy, could you open the gate for me please? Thank you very much.', voice: 'en-us+f3', wordsPerMinute: 165 },
  { text: 'Sorry, the number on the label is smudged. Is this number forty seven?', voice: 'en-us+f3', wordsPerMinute: 165 },
];

/** One utterance as 48 kHz mono samples (made once, then read from the cache). */
export async function speak(utterance: Utterance): Promise<Int16Array> {
  const voice = utterance.voice ?? 'en-us';
  const speed = utterance.wordsPerMinute ?? 160;
  const key = createHash('sha256').update(JSON.stringify([voice, speed, utterance.text])).digest('hex').slice(0, 24);
  const file = path.join(CACHE_DIR, `${key}.s16`);
  if (!existsSync(file)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const unique = `${key}.${process.pid}.${Date.now()}`;
    const wav = path.join(CACHE_DIR, `${unique}.wav`);
    const raw = path.join(CACHE_DIR, `${unique}.s16`);
    try {
      await run('espeak-ng', ['-v', voice, '-s', String(speed), '-w', wav, utterance.text]);
      await run('sox', [wav, '-r', '48000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', raw]);
      renameSync(raw, file); // atomic: parallel test processes never read half a file
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(missing ? 'speech fixtures need espeak-ng and sox (apt-get install espeak-ng sox)' : `making speech failed: ${(error as Error).message}`, { cause: error });
    } finally {
      rmSync(wav, { force: true });
      rmSync(raw, { force: true });
    }
  }
  const bytes = readFileSync(file);
  const samples = new Int16Array(bytes.length / 2);
  new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 2));
  return samples;
}

/**
 * Utterances one after another with `gapMs` of silence between them, repeated until the talk
 * lasts at least `seconds`, then cut to exactly that length.
 */
export async function talk(utterances: readonly Utterance[], seconds: number, gapMs = 250): Promise<Int16Array> {
  const pieces = await Promise.all(utterances.map((utterance) => speak(utterance)));
  const total = Math.round(seconds * 48_000);
  const gap = Math.round((gapMs * 48_000) / 1000);
  const out = new Int16Array(total);
  let at = 0;
  for (let index = 0; at < total; index = (index + 1) % pieces.length) {
    const piece = pieces[index];
    out.set(piece.subarray(0, Math.min(piece.length, total - at)), at);
    at += piece.length + gap;
  }
  return out;
}
