import { writeFile } from 'node:fs/promises';
import type { CliRun } from '../support/cli.js';

/**
 * Resolves with the first line (past or future) the command printed that satisfies `match`: a
 * parsed JSON object, or `{ type: 'text', text }` for a human line. Waits on the command's
 * output, not on a timer; rejects if the command exits first.
 */
export async function lineWhere(run: CliRun, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const stdout = run.child.stdout!;
  // The end of its output, not the exit event: the last lines may be read after the process is gone.
  const ended = stdout.closed ? Promise.resolve() : new Promise<void>((resolve) => stdout.once('close', () => resolve()));
  let checked = 0;
  for (;;) {
    for (; checked < run.lines.length; checked += 1) if (match(run.lines[checked])) return run.lines[checked];
    if (stdout.closed) {
      const { code, stderr } = await run.exited;
      throw new Error(`the command exited (${code}) without printing the awaited line; stderr: ${stderr.split('\n').filter((line) => !line.startsWith('ALSA lib')).join('\n')}`);
    }
    // runCli's line reader listens first, so by this 'data' event the new lines are in run.lines.
    await Promise.race([new Promise<void>((resolve) => stdout.once('data', () => setImmediate(resolve))), ended]);
  }
}

/** The first --json status line whose figures satisfy `match`. */
export function statusWhere(run: CliRun, match: (status: Record<string, any>) => boolean): Promise<Record<string, any>> {
  return lineWhere(run, (line) => line.type === 'status' && match(line));
}

/** The human (non --json) lines printed so far. */
export function textLines(run: CliRun): string[] {
  return run.lines.filter((line) => line.type === 'text').map((line) => line.text as string);
}

/** Writes 48 kHz mono 16-bit PCM as a WAV file (written here, not by the code under test). */
export async function writeMonoWav(file: string, samples: Int16Array, sampleRate = 48_000): Promise<void> {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples.byteLength, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples.byteLength, 40);
  await writeFile(file, Buffer.concat([header, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]));
}
