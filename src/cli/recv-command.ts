import type { WireFormatName } from '../config/schema.js';
import { frameSamplesFor } from '../codec/codec.js';
import { UdpTransport } from '../net/udp-transport.js';
import { loadCodec } from '../streaming/stream-setup.js';
import { MediaReceiver } from '../media/media-receiver.js';
import { packetFormatFor } from '../media/wire-format.js';
import { startFrameClock } from '../streaming/frame-clock.js';
import { WavWriter } from '../streaming/wav-writer.js';
import { openAudioBackend, type AudioBackendChoice } from '../streaming/audio-backend-loader.js';
import { formatReceiveLine, formatReceiveSummary, type ReceiveFigures } from './status-line.js';
import { printer, runUntilStopped, type RunningCommand } from './command-runtime.js';
import type { Logger } from '../logging/logger.js';

export interface RecvOptions {
  port: number;
  host: string;
  format: WireFormatName;
  frameMs: 10 | 20;
  bitrate: number;
  device?: string;
  wav?: string;
  minDelayMs: number;
  maxDelayMs: number;
  seconds?: number;
  json: boolean;
  backend?: AudioBackendChoice;
}

/**
 * A receiver for a stream that no signaling announced: the newest SSRC is played, and any dynamic
 * RTP payload type (96-127) is taken as the configured codec, since only signaling could bind one
 * number to it (RFC 3550/3551) and other stacks pick their own (GStreamer's rtpopuspay: 96).
 */
async function unannouncedStreamReceiver(options: RecvOptions, frameSamples: number): Promise<MediaReceiver> {
  const codec = await loadCodec(options.format);
  return new MediaReceiver({
    decoder: codec.createDecoder({ frameSamples, bitrate: options.bitrate }),
    packetFormat: packetFormatFor(options.format, frameSamples, { anyDynamicPayloadType: true }),
    frameSamples,
    minMs: options.minDelayMs,
    maxMs: options.maxDelayMs,
  });
}

/** `intercom recv`: receives a stream on a UDP port and plays it, or writes it to a WAV file. */
export async function runRecv(options: RecvOptions, logger: Logger): Promise<void> {
  const frameSamples = frameSamplesFor(options.frameMs);
  const receiver = await unannouncedStreamReceiver(options, frameSamples);
  const out = printer(options.json);
  const startedAt = performance.now();

  // The output is opened before the socket, so a missing device fails before anything is received.
  let stopOutput: () => Promise<void>;
  let run: RunningCommand | undefined;
  /** The sound device's own figures (silence it had to insert when a frame came late), for the summary. */
  let deviceFigures: (() => unknown) | undefined;
  if (options.wav) {
    const writer = await WavWriter.create(options.wav);
    // No sound card paces a file, so a frame clock stands in for the playback device's clock.
    const clock = startFrameClock(options.frameMs, (_tick, now) => writer.write(receiver.readFrame(now)));
    stopOutput = async () => {
      clock.stop();
      await writer.close();
    };
  } else {
    const backend = await openAudioBackend(logger, options.backend);
    let playbackFailed: (reason: string) => void = () => undefined;
    const playback = await backend
      .openPlayback({
        device: options.device ?? 'default',
        frameSamples,
        // Due on the device's clock where the backend says when the frame will be heard; all that
        // is decoded where the backend plays what it is given (PlayoutTiming.samples).
        nextFrame: (timing) => {
          if (!timing) return receiver.readFrame(performance.now());
          const dueAtMs = timing.playoutAtMs - timing.outputDelayMs;
          return timing.samples === undefined ? receiver.readFrame(dueAtMs, timing.outputDelayMs) : receiver.readAvailable(dueAtMs, timing.outputDelayMs, timing.samples);
        },
        onError: (error: Error) => playbackFailed(`playback failed: ${error.message}`),
      })
      .catch(async (error: unknown) => {
        await backend.close();
        throw error;
      });
    logger.info({ device: playback.deviceName }, 'playing');
    deviceFigures = () => playback.stats?.() ?? null;
    stopOutput = async () => {
      await playback.close();
      await backend.close();
    };
    playbackFailed = (reason) => run?.stop(reason);
  }

  let transport: UdpTransport;
  try {
    transport = await UdpTransport.bind({
      port: options.port,
      host: options.host,
      onDatagram: (datagram) => receiver.receiveDatagram(datagram, performance.now()),
      onError: (error: Error) => logger.warn({ err: error }, 'UDP receive error'),
    });
  } catch (error) {
    await stopOutput();
    throw new Error(`cannot listen on UDP port ${options.port}: ${(error as Error).message}`);
  }

  const port = transport.localPort;
  out.event('listening', `listening on UDP port ${port} (${options.format})`, { port, format: options.format });
  const figures = (): ReceiveFigures => ({ seconds: (performance.now() - startedAt) / 1000, ...receiver.stats() });
  run = runUntilStopped({
    seconds: options.seconds,
    startedAt,
    everySecond: () => out.status(formatReceiveLine(figures()), figures()),
  });
  const reason = await run.stopped;
  run.dispose();
  await transport.close();
  await stopOutput();
  logger.debug({ reason }, 'recv stopped');
  out.summary(formatReceiveSummary(figures()), { ...figures(), reason, port, device: deviceFigures?.() ?? null });
}
