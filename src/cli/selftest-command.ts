import type { AudioStream } from '../audio/audio-backend.js';
import type { Logger } from '../logging/logger.js';
import { analyseSelfTest, type SelfTestReport } from '../selftest/selftest-analysis.js';
import { SAMPLE_RATE, selfTestSignal } from '../selftest/selftest-signal.js';
import { openAudioBackend } from '../streaming/audio-backend-loader.js';
import { printer } from './command-runtime.js';

export interface SelfTestOptions {
  /** Capture and playback devices (ALSA name or part of a device's name). */
  mic: string;
  speaker: string;
  json: boolean;
}

const FRAME = 960;
/** Captured before the test signal starts (the streams settle), and after it ends (the room's tail, the devices' buffers). */
const LEAD_IN_MS = 300;
const TAIL_MS = 1000;
/** The whole test gives up after this long (a device that stops delivering). */
const TIMEOUT_MS = 20_000;

/**
 * `intercom selftest`: plays the self-test signal through the speaker while recording the mic,
 * then reports whether the speaker was heard and the mic is live, the echo path's delay and
 * coupling, the noise floor and whether the echo canceller converges on that path. Outside a call
 * the two streams are opened separately, so the delay includes the sound card's buffers.
 * Exit code 1 when the speaker was not heard or the microphone is dead.
 */
export async function runSelfTest(options: SelfTestOptions, logger: Logger): Promise<SelfTestReport> {
  const signal = selfTestSignal();
  const captured: Int16Array[] = [];
  let capturedSamples = 0;
  let playFrom: number | undefined;
  let playedSamples = 0;
  let finish: () => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const leadIn = Math.round((LEAD_IN_MS * SAMPLE_RATE) / 1000);
  const tail = Math.round((TAIL_MS * SAMPLE_RATE) / 1000);

  const backend = await openAudioBackend(logger);
  const streams: AudioStream[] = [];
  try {
    streams.push(
      await backend.openCapture({
        device: options.mic,
        frameSamples: FRAME,
        onFrame(pcm) {
          captured.push(pcm.slice());
          capturedSamples += pcm.length;
          if (playFrom !== undefined && capturedSamples >= playFrom + signal.samples.length + tail) finish();
        },
        onError: (error) => fail(new Error(`capture failed: ${error.message}`)),
      }),
    );
    streams.push(
      await backend.openPlayback({
        device: options.speaker,
        frameSamples: FRAME,
        nextFrame() {
          const frame = new Int16Array(FRAME);
          // The signal starts once the mic has run for the lead-in; its place in the recording is the
          // number of samples captured when its first frame was handed to the speaker.
          if (playFrom === undefined && capturedSamples >= leadIn) playFrom = capturedSamples;
          if (playFrom !== undefined && playedSamples < signal.samples.length) {
            frame.set(signal.samples.subarray(playedSamples, playedSamples + FRAME));
            playedSamples += FRAME;
          }
          return frame;
        },
        onError: (error) => fail(new Error(`playback failed: ${error.message}`)),
      }),
    );
    logger.info({ mic: streams[0].deviceName, speaker: streams[1].deviceName }, 'self-test playing');
    const timeout = setTimeout(() => fail(new Error(`the self-test did not finish within ${TIMEOUT_MS / 1000} s (did the devices stop?)`)), TIMEOUT_MS);
    try {
      await done;
    } finally {
      clearTimeout(timeout);
    }
  } finally {
    for (const stream of streams) await stream.close().catch(() => undefined);
    await backend.close();
  }

  const mic = new Int16Array(capturedSamples);
  let at = 0;
  for (const frame of captured) {
    mic.set(frame, at);
    at += frame.length;
  }
  const reference = new Int16Array(mic.length);
  reference.set(signal.samples.subarray(0, Math.max(0, mic.length - playFrom!)), playFrom!);
  // The analysis reads the signal's parts by their place in the signal; shift the recording to match.
  const report = analyseSelfTest({ signal, reference: reference.subarray(playFrom!), mic: mic.subarray(playFrom!) });

  const out = printer(options.json);
  out.summary(describe(report, options), { ...report, mic: options.mic, speaker: options.speaker });
  if (!report.speakerHeard || !report.microphoneLive) process.exitCode = 1;
  return report;
}

function describe(report: SelfTestReport, options: SelfTestOptions): string {
  const lines = [
    `speaker (${options.speaker}): ${report.speakerHeard ? `heard, ${report.echoDelayMs!.toFixed(1)} ms after playback (including the sound card's buffers), coupling ${report.couplingDb!.toFixed(1)} dB, ${report.echoToNoiseDb.toFixed(0)} dB above the noise` : 'NOT heard'}`,
    `microphone (${options.mic}): ${report.microphoneLive ? `live, noise floor ${report.noiseFloorDbfs === null ? 'digital silence' : `${report.noiseFloorDbfs.toFixed(1)} dBFS`}${report.microphoneClipped ? ', CLIPPED' : ''}` : 'DEAD (no signal)'}`,
    `echo canceller: ${report.cancellerConverged === null ? 'nothing to cancel' : report.cancellerConverged ? `converged (${report.cancellerErleDb!.toFixed(0)} dB)` : `did NOT converge (${report.cancellerErleDb?.toFixed(0) ?? '?'} dB)`}`,
    ...(report.problems.length === 0 ? ['all good'] : report.problems.map((problem) => `problem: ${problem}`)),
  ];
  return lines.join('\n');
}
