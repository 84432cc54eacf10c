import type { WireFormatName } from '../config/schema.js';
import { frameSamplesFor } from '../codec/codec.js';
import { UdpTransport } from '../net/udp-transport.js';
import { createMediaSender } from '../streaming/stream-setup.js';
import { bufferSource, readWavAsMono48k, toneSource, type FrameSource } from '../streaming/signal-sources.js';
import { startFrameClock } from '../streaming/frame-clock.js';
import { openAudioBackend, type AudioBackendChoice } from '../streaming/audio-backend-loader.js';
import type { AudioStream } from '../audio/audio-backend.js';
import { formatSendLine, formatSendSummary, type SendFigures } from './status-line.js';
import { printer, runUntilStopped, type RunningCommand } from './command-runtime.js';
import type { Logger } from '../logging/logger.js';
import { CaptureProcessor, DEFAULT_CAPTURE_PROCESSING } from '../audio-processing/capture-processor.js';

export interface SendOptions {
  host: string;
  port: number;
  format: WireFormatName;
  frameMs: 10 | 20;
  bitrate: number;
  complexity: number;
  wav?: string;
  /** true: the default capture device; a string: that device. */
  mic?: string | true;
  /** With `mic`: noise suppression and gain control as a unit applies them (no echo to cancel here). */
  processing?: boolean;
  tone: number;
  seconds?: number;
  json: boolean;
  backend?: AudioBackendChoice;
}

/** `intercom send`: streams a tone, a WAV file or the microphone to host:port until stopped. */
export async function runSend(options: SendOptions, logger: Logger): Promise<void> {
  const frameSamples = frameSamplesFor(options.frameMs);
  const sender = await createMediaSender(options);
  const transport = await UdpTransport.bind({
    port: 0,
    host: options.host.includes(':') ? '::' : '0.0.0.0',
    onDatagram: () => undefined,
    onError: (error: Error) => logger.warn({ err: error }, 'UDP send error'),
  });
  const out = printer(options.json);
  let startedAt = performance.now();
  let bytesSent = 0;
  const figures = (): SendFigures => ({
    seconds: (performance.now() - startedAt) / 1000,
    packetsSent: sender.packetsSent,
    bytesSent,
    format: options.format,
    destination: `${options.host}:${options.port}`,
  });
  // The source is opened before the once-a-second report starts, so a device that is missing or
  // slow to open shows no status line, and the rate counts from the first frame on.
  let run: RunningCommand | undefined;
  let stopBeforeRun: string | undefined;
  const stop = (reason: string) => (run ? run.stop(reason) : (stopBeforeRun ??= reason));
  const sendFrame = (pcm: Int16Array, position?: number) => {
    const datagram = sender.sendFrame(pcm, position);
    bytesSent += datagram.length;
    transport.send(datagram, options.port, options.host);
  };

  let stopSource: () => Promise<void>;
  if (options.mic !== undefined) {
    const backend = await openAudioBackend(logger, options.backend);
    const processor = options.processing ? new CaptureProcessor({ ...DEFAULT_CAPTURE_PROCESSING, enabled: true, echoCancellation: false }) : null;
    let capture: AudioStream;
    try {
      capture = await backend.openCapture({
        device: options.mic === true ? 'default' : options.mic,
        frameSamples,
        onFrame: processor ? (pcm, position) => sendFrame(processor.process(pcm, null), position) : sendFrame,
        onError: (error: Error) => stop(`capture failed: ${error.message}`),
      });
    } catch (error) {
      await Promise.all([backend.close(), transport.close()]);
      throw error;
    }
    logger.info({ device: capture.deviceName, processing: processor !== null }, 'capturing');
    stopSource = async () => {
      await capture.close();
      await backend.close();
      processor?.close();
    };
  } else {
    const source: FrameSource = options.wav
      ? bufferSource(await readWavAsMono48k(options.wav), frameSamples)
      : toneSource({ frequencyHz: options.tone, frameSamples });
    const clock = startFrameClock(options.frameMs, () => {
      const frame = source.nextFrame();
      if (frame === null) stop('end of file');
      else sendFrame(frame);
    });
    stopSource = async () => clock.stop();
  }

  startedAt = performance.now();
  run = runUntilStopped({
    seconds: options.seconds,
    startedAt,
    everySecond: () => out.status(formatSendLine(figures()), figures()),
  });
  if (stopBeforeRun !== undefined) run.stop(stopBeforeRun);
  const reason = await run.stopped;
  run.dispose();
  await stopSource();
  await transport.close();
  logger.debug({ reason }, 'send stopped');
  out.summary(formatSendSummary(figures()), { ...figures(), reason });
}
