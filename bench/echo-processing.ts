/**
 * Echo and capture processing (issue 13), measured in the offline room simulator with espeak-ng
 * speech: the shipped CaptureProcessor beside no processing and beside speexdsp alone (its echo
 * canceller and preprocessor as the library ships them), in the same run. Prints Markdown for
 * docs/PERFORMANCE.md and returns whether every target was met.
 *
 *     npx tsx bench/echo-processing.ts
 */
import { fileURLToPath } from 'node:url';
import { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING } from '../src/audio-processing/capture-processor.js';
import { loadSpeexAddon } from '../src/audio-processing/speex-addon.js';
import type { EchoPathOptions } from '../test/support/room-simulator/echo-path.js';
import {
  addedDelayScenario,
  delayJumpScenario,
  doubleTalkScenario,
  echoScenario,
  farEndSpeech,
  noProcessing,
  noiseScenario,
  talkerLevelScenario,
  type ProcessorFactory,
  type ProcessorUnderTest,
} from '../test/support/room-simulator/hands-free-scenarios.js';
import { renderScene } from '../test/support/room-simulator/room.js';

const shipped: ProcessorFactory = () => new CaptureProcessor(DEFAULT_CAPTURE_PROCESSING);

/** speexdsp as it comes: canceller (200 ms) and preprocessor with its default suppression, nothing of ours. */
const speexAlone: ProcessorFactory = () => {
  const native = new (loadSpeexAddon().SpeexProcessor)({
    sampleRate: 48_000,
    blockSamples: 480,
    echoFilterSamples: 9_600,
    preprocess: true,
    denoise: true,
    noiseSuppressDb: -15,
    echoSuppressDb: -40,
    echoSuppressActiveDb: -15,
  });
  const processor: ProcessorUnderTest = {
    addedDelaySamples: 480,
    process(mic, reference) {
      const out = new Int16Array(mic.length);
      native.process(mic, reference, out);
      return out;
    },
    close: () => native.close(),
  };
  return processor;
};

const f1 = (value: number) => value.toFixed(1);
const path = (delayMs: number, rt60Ms: number, couplingDb: number, seed: number, loudspeakerClipDbfs?: number): EchoPathOptions => ({ delayMs, rt60Ms, couplingDb, seed, loudspeakerClipDbfs });

export async function runEchoProcessingBench(): Promise<boolean> {
  let ok = true;
  const judge = (met: boolean) => {
    ok &&= met;
    return met ? 'met' : 'MISSED';
  };
  console.log('## Echo and capture processing (room simulator)\n');
  console.log('Offline room simulator (test/support/room-simulator): espeak-ng speech, far end at -20 dBFS');
  console.log('active level on the speaker, echo path = delay + room response (direct sound + reverberant');
  console.log('tail with the given RT60, direct-to-reverberant 0 dB) at the given coupling, mic hiss -85 dBFS.');
  console.log('ERLE = echo power at the mic / what is left of it in what is sent, over 2-8 s of far-end');
  console.log('speech (fresh processor). Same run, same signals: no processing, speexdsp alone (canceller +');
  console.log('preprocessor as the library ships them), and the shipped processing.\n');

  console.log('| echo path | no processing | speexdsp alone | shipped | target |');
  console.log('|---|---|---|---|---|');
  const linear: EchoPathOptions[] = [];
  let seed = 100;
  for (const delayMs of [1, 10, 20]) for (const rt60Ms of [200, 300]) for (const couplingDb of [0, -10]) linear.push(path(delayMs, rt60Ms, couplingDb, seed++));
  const range = [path(40, 400, 0, seed++), path(40, 400, -10, seed++), path(1, 400, 0, seed++), path(20, 300, 0, seed++, -8), path(40, 400, 0, seed++, -8)];
  const information = [path(20, 300, 0, seed++, -10), path(20, 300, 0, seed++, -12)];
  for (const [paths, target] of [[linear, 30], [range, 20], [information, undefined]] as const) {
    for (const echoPath of paths) {
      const none = await echoScenario(noProcessing, echoPath);
      const speex = await echoScenario(speexAlone, echoPath);
      const ours = await echoScenario(shipped, echoPath);
      const clip = echoPath.loudspeakerClipDbfs === undefined ? '' : `, loudspeaker clips at ${echoPath.loudspeakerClipDbfs} dBFS (${f1(ours.loudspeakerClippedPercent)}% of samples)`;
      const verdict = target === undefined ? 'for information' : `>= ${target} dB: ${judge(ours.erleDb >= target)}`;
      console.log(`| ${echoPath.delayMs} ms, RT60 ${echoPath.rt60Ms} ms, ${echoPath.couplingDb} dB${clip} | ${f1(none.erleDb)} dB | ${f1(speex.erleDb)} dB | **${f1(ours.erleDb)} dB** | ${verdict} |`);
    }
  }
  console.log('');

  console.log('| scenario | no processing | speexdsp alone | shipped | target |');
  console.log('|---|---|---|---|---|');
  const talkPath = path(20, 300, 0, seed++);
  const [dtNone, dtSpeex, dtOurs] = [await doubleTalkScenario(noProcessing, talkPath), await doubleTalkScenario(speexAlone, talkPath), await doubleTalkScenario(shipped, talkPath)];
  console.log(`| double talk (20 ms, RT60 300, 0 dB): envelope correlation with the clean visitor | ${dtNone.correlation.toFixed(3)} | ${dtSpeex.correlation.toFixed(3)} | **${dtOurs.correlation.toFixed(3)}** | >= 0.85: ${judge(dtOurs.correlation >= 0.85)} |`);
  console.log(`| double talk: how much quieter than with the far end silent | ${f1(dtNone.levelDropDb)} dB | ${f1(dtSpeex.levelDropDb)} dB | **${f1(dtOurs.levelDropDb)} dB** | <= 3 dB: ${judge(dtOurs.levelDropDb <= 3)} |`);
  for (const [delayMs, jumpMs] of [[10, 20], [30, -20]]) {
    const jumpPath = path(delayMs, 300, -6, seed++);
    const [jumpSpeex, jumpOurs] = [await delayJumpScenario(speexAlone, jumpPath, jumpMs), await delayJumpScenario(shipped, jumpPath, jumpMs)];
    console.log(`| echo delay ${delayMs} -> ${delayMs + jumpMs} ms mid-call: ERLE 1.5-2 s after | 0 dB | ${f1(jumpSpeex.erleAt2sDb)} dB | **${f1(jumpOurs.erleAt2sDb)} dB** (before: ${f1(jumpOurs.erleBeforeDb)}) | >= 25 dB: ${judge(jumpOurs.erleAt2sDb >= 25)} |`);
  }
  const noisePath = path(10, 300, -6, seed++);
  const [noiseNone, noiseSpeex, noiseOurs] = [await noiseScenario(noProcessing, noisePath), await noiseScenario(speexAlone, noisePath), await noiseScenario(shipped, noisePath)];
  console.log(`| fan noise at -40 dBFS: reduction | ${f1(noiseNone.noiseReductionDb)} dB | ${f1(noiseSpeex.noiseReductionDb)} dB | **${f1(noiseOurs.noiseReductionDb)} dB** | >= 10 dB: ${judge(noiseOurs.noiseReductionDb >= 10)} |`);
  console.log(`| ... speech envelope correlation in that noise | ${noiseNone.speechCorrelation.toFixed(3)} | ${noiseSpeex.speechCorrelation.toFixed(3)} | **${noiseOurs.speechCorrelation.toFixed(3)}** | >= 0.9: ${judge(noiseOurs.speechCorrelation >= 0.9)} |`);
  const [levelsNone, levelsOurs] = [await talkerLevelScenario(noProcessing, noisePath), await talkerLevelScenario(shipped, noisePath)];
  console.log(`| talkers at ${f1(levelsOurs.quietInDbfs)} and ${f1(levelsOurs.loudInDbfs)} dBFS: levels sent | ${f1(levelsNone.quietOutDbfs)} / ${f1(levelsNone.loudOutDbfs)} dBFS | (no gain control) | **${f1(levelsOurs.quietOutDbfs)} / ${f1(levelsOurs.loudOutDbfs)} dBFS**, ${levelsOurs.fullScaleSamples} samples at full scale | within 6 dB, no clipping: ${judge(levelsOurs.differenceDb <= 6 && levelsOurs.fullScaleSamples === 0)} |`);
  const delay = await addedDelayScenario(shipped, noisePath);
  console.log(`| added delay, measured on the waveform | 0 ms | 10 ms | **${f1(delay.measuredSamples / 48)} ms** | <= 10 ms: ${judge(delay.measuredSamples <= 480)} |`);

  const cpu = await cpuShare();
  console.log(`| CPU for one call's capture (share of one core, median of 3 x 60 s) | 0 | ${cpu.speex.toFixed(2)}% | **${cpu.shipped.toFixed(2)}%** | <= 2%: ${judge(cpu.shipped <= 2)} |`);
  console.log('');
  return ok;
}

/**
 * The CPU workload: 60 s of far-end talk on the speaker and the mic hearing its echo (20 ms, RT60
 * 300 ms, -6 dB). bench/processing-arm64.ts runs the same on the image's arm64 build.
 */
export async function cpuWorkload(seconds = 60): Promise<{ mic: Int16Array; speaker: Int16Array }> {
  const far = await farEndSpeech();
  const speaker = new Int16Array(seconds * 48_000);
  for (let at = 0; at < speaker.length; at += far.length) speaker.set(far.subarray(0, Math.min(far.length, speaker.length - at)), at);
  const scene = renderScene({ path: path(20, 300, -6, 7), farEnd: speaker });
  return { mic: scene.mic, speaker: scene.speaker };
}

/** CPU time per second of audio, as a share of one core: 60 s of far-end talk with its echo. */
async function cpuShare(): Promise<{ speex: number; shipped: number }> {
  const scene = await cpuWorkload(60);
  const measure = (make: ProcessorFactory) => {
    const shares: number[] = [];
    for (let run = 0; run < 3; run += 1) {
      const processor = make();
      const before = process.cpuUsage();
      for (let start = 0; start + 960 <= scene.mic.length; start += 960) processor.process(scene.mic.subarray(start, start + 960), scene.speaker.subarray(start, start + 960));
      const used = process.cpuUsage(before);
      processor.close();
      shares.push(((used.user + used.system) / 1e6 / 60) * 100);
    }
    return shares.sort((a, b) => a - b)[1];
  };
  return { speex: measure(speexAlone), shipped: measure(shipped) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const met = await runEchoProcessingBench();
  process.exitCode = met ? 0 : 1;
}
