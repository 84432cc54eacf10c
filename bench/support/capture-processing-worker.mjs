// The capture-processing CPU workload of bench/processing-arm64.ts, in plain JavaScript so that
// any Node runs it as it is: the image's own Node under qemu-user, and this machine's. It loads
// the CaptureProcessor it is given (a package's compiled dist/, or the source through tsx), feeds
// it the recorded far-end speech and its echo in 20 ms frames, and prints one JSON line:
//
//   node capture-processing-worker.mjs MODULE MIC.raw SPEAKER.raw RUNS
//
// MIC.raw and SPEAKER.raw are 48 kHz mono 16-bit little-endian samples of equal length.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, micPath, speakerPath, runsArgument] = process.argv.slice(2);
if (!modulePath || !micPath || !speakerPath) {
  console.error('usage: capture-processing-worker.mjs MODULE MIC.raw SPEAKER.raw [RUNS]');
  process.exit(2);
}
const runs = Number(runsArgument ?? 3);
const FRAME = 960;
const SAMPLE_RATE = 48_000;

const samples = (file) => {
  const bytes = readFileSync(file);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
};
const mic = samples(micPath);
const speaker = samples(speakerPath);
if (mic.length !== speaker.length) throw new Error(`mic (${mic.length}) and speaker (${speaker.length}) differ in length`);
const frames = Math.floor(mic.length / FRAME);
const audioSeconds = (frames * FRAME) / SAMPLE_RATE;

const { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING } = await import(pathToFileURL(modulePath).href);
const results = [];
for (let run = 0; run < runs; run += 1) {
  const processor = new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  for (let frame = 0; frame < frames; frame += 1) {
    processor.process(mic.subarray(frame * FRAME, (frame + 1) * FRAME), speaker.subarray(frame * FRAME, (frame + 1) * FRAME));
  }
  const cpu = process.cpuUsage(cpuBefore);
  const wallSeconds = Number(process.hrtime.bigint() - wallBefore) / 1e9;
  const figures = processor.figures();
  processor.close();
  results.push({ cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds, erleDb: figures.erleDb, converged: figures.converged });
}
console.log(JSON.stringify({ node: process.version, arch: process.arch, audioSeconds, runs: results }));
