/**
 * The audio host: a child process that owns one naudiodon (PortAudio) stream, or answers one
 * device listing, for the service process (see naudiodon-backend.ts).
 *
 * naudiodon lives here rather than in the service because it printf()s to stdout on every
 * stream start, installs a segfault handler that writes crash.log into the working directory,
 * has been reported to crash after hours of streaming, and blocks its audio thread on
 * JavaScript. A crash or a hang here costs one stream, which the service can reopen.
 *
 * Started as: node [execArgv] naudiodon-host.(ts|js) <scratch dir>
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type * as Naudiodon from 'naudiodon';
import { resolveDevice, parseSoundCards, type AudioDirection } from './device-resolver.js';
import { PlaybackLead } from './playback-lead.js';
import {
  FrameRechunker,
  HOST_TO_PARENT_FD,
  PARENT_TO_HOST_FD,
  RecordDecoder,
  RecordKind,
  encodeRecord,
  type HostDeviceInfo,
  type HostStreamStats,
  type HostToParentMessage,
  type ParentToHostMessage,
} from './host-protocol.js';

const BYTES_PER_SAMPLE = 2;
/** Captured frames buffered in user space beyond the pipe before we drop instead (parent stalled). */
const CAPTURE_BACKLOG_LIMIT_FRAMES = 8;
/**
 * Captured frames naudiodon may hold while this process's JavaScript is late. When its queue is
 * full, PortAudio's callback waits, the sound card overruns and speech is lost; its default of 2
 * (40 ms) is less than a slow board's stall. 10 frames ride out 200 ms; normally it stays empty.
 */
const CAPTURE_QUEUE_FRAMES = 10;
/** How long quit() may take; PortAudio's stop hangs while a capture device delivers nothing. */
const QUIT_TIMEOUT_MS = 500;
const STATS_INTERVAL_MS = 5_000;

// segfault-handler writes crash.log into the working directory: keep it out of the project.
process.chdir(process.argv[2] ?? os.tmpdir());

const requireCjs = createRequire(import.meta.url);
let naudiodonModule: typeof Naudiodon | undefined;
function naudiodon(): typeof Naudiodon {
  naudiodonModule ??= requireCjs('naudiodon') as typeof Naudiodon;
  return naudiodonModule;
}

const toParent = new net.Socket({ fd: HOST_TO_PARENT_FD, readable: false, writable: true });
const fromParent = new net.Socket({ fd: PARENT_TO_HOST_FD, readable: true, writable: false });

const stats: HostStreamStats = { frames: 0, silenceInserted: 0, lateDropped: 0, backlogDropped: 0, leadFrames: 0 };
let stopStream: (() => Promise<boolean>) | undefined;
let exiting = false;
/** Whether the parent wants the audio now; between calls the device keeps running without it. */
let relaying = true;

function send(message: HostToParentMessage): void {
  process.send?.(message);
}

function listDevices(): HostDeviceInfo[] {
  return naudiodon()
    .getDevices()
    .map((device) => ({
      id: device.id,
      name: device.name,
      hostApi: device.hostAPIName,
      maxInputChannels: device.maxInputChannels,
      maxOutputChannels: device.maxOutputChannels,
      defaultSampleRate: device.defaultSampleRate,
      defaultLowInputLatency: device.defaultLowInputLatency,
      defaultLowOutputLatency: device.defaultLowOutputLatency,
    }));
}

function soundCards() {
  try {
    return parseSoundCards(readFileSync('/proc/asound/cards', 'utf8'));
  } catch {
    return []; // no ALSA kernel driver at all: only configured PCMs can match
  }
}

function streamOptions(deviceId: number, frameSamples: number, sampleRate: number): Naudiodon.AudioOptions {
  return {
    deviceId,
    // naudiodon's defaults are 8-bit stereo 44.1 kHz: always say what we mean.
    sampleRate,
    channelCount: 1,
    sampleFormat: 16,
    // Chunks of exactly one frame, and device periods of one frame: other period sizes make
    // ALSA's file plugin (and some drivers) pad partial reads with silence.
    highwaterMark: frameSamples * BYTES_PER_SAMPLE,
    framesPerBuffer: frameSamples,
    // Under- and overruns are logged by naudiodon rather than closing the stream.
    closeOnError: false,
  };
}

/** Resolves true if the stream quit in time; false if PortAudio is stuck (then only SIGKILL ends us). */
async function quitWithin(io: Naudiodon.IoStream, timeoutMs: number): Promise<boolean> {
  return Promise.race([new Promise<boolean>((resolve) => io.quit(() => resolve(true))), delay(timeoutMs, false)]);
}

function startCapture(deviceId: number, frameSamples: number, sampleRate: number): void {
  const frameBytes = frameSamples * BYTES_PER_SAMPLE;
  const io = naudiodon().AudioIO({ inOptions: { ...streamOptions(deviceId, frameSamples, sampleRate), maxQueue: CAPTURE_QUEUE_FRAMES } });
  const rechunker = new FrameRechunker(frameBytes);
  io.on('data', (chunk: Buffer) =>
    rechunker.push(chunk, (frame) => {
      if (!relaying) return;
      if (toParent.writableLength > CAPTURE_BACKLOG_LIMIT_FRAMES * frameBytes) {
        stats.backlogDropped += 1;
        return;
      }
      toParent.write(encodeRecord(RecordKind.CapturedFrame, frame));
      stats.frames += 1;
    }),
  );
  io.on('end', () => fail('the capture device stopped delivering audio'));
  io.on('error', (error: Error) => fail(`capture device error: ${error.message}`));
  io.start();
  stopStream = () => quitWithin(io, QUIT_TIMEOUT_MS);
}

/**
 * Playback is pulled by the device: naudiodon accepts a write once its one-chunk queue has room,
 * i.e. when the device has taken the previous frame. Each acceptance asks the parent for the next
 * frame; if it has not arrived within half a frame, silence goes to the device instead, because
 * naudiodon would otherwise stall the audio thread waiting for JavaScript. A parent that keeps
 * missing that deadline gets asked one frame ahead (PlaybackLead).
 */
function startPlayback(deviceId: number, frameSamples: number, sampleRate: number): void {
  const frameBytes = frameSamples * BYTES_PER_SAMPLE;
  const frameMs = (frameSamples / sampleRate) * 1000;
  const deadlineMs = frameMs / 2;
  const silence = Buffer.alloc(frameBytes);
  const io = naudiodon().AudioIO({ outOptions: { ...streamOptions(deviceId, frameSamples, sampleRate), maxQueue: 1 } });
  const received: Buffer[] = [];
  const lead = new PlaybackLead({ deadlineMs });
  /** When each outstanding pull was sent, oldest first (the parent answers in order). */
  const pullsSentAt: number[] = [];
  let outstandingPulls = 0;
  let frameArrived: (() => void) | undefined;
  let running = true;

  const decoder = new RecordDecoder();
  fromParent.on('data', (chunk: Buffer) => {
    for (const record of decoder.push(chunk)) {
      if (record.kind !== RecordKind.PlaybackFrame) continue;
      outstandingPulls = Math.max(0, outstandingPulls - 1);
      const sentAt = pullsSentAt.shift();
      if (sentAt !== undefined) lead.answered(performance.now() - sentAt);
      const frame = Buffer.alloc(frameBytes); // short frames are padded with silence, long ones cut
      record.payload.copy(frame, 0, 0, Math.min(frameBytes, record.payload.length));
      received.push(frame);
      if (received.length > 1 + lead.frames) {
        received.shift();
        stats.lateDropped += 1;
      }
      frameArrived?.();
    }
  });

  /** Asks the parent for frames until `wanted` are here or on their way. */
  const requestFrames = (wanted: number) => {
    while (outstandingPulls + received.length < wanted) {
      outstandingPulls += 1;
      pullsSentAt.push(performance.now());
      toParent.write(encodeRecord(RecordKind.PlaybackPull));
    }
  };

  const nextFrameForDevice = async (): Promise<Buffer> => {
    if (!relaying) {
      received.length = 0;
      return silence;
    }
    requestFrames(1);
    if (received.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        frameArrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      frameArrived = undefined;
    }
    const frame = received.shift();
    lead.devicePulled(frame === undefined);
    stats.leadFrames = lead.frames;
    requestFrames(lead.frames); // ahead: the next frame is on its way while the device plays this one
    if (frame) return frame;
    stats.silenceInserted += 1;
    return silence;
  };

  const writeToDevice = (frame: Buffer) =>
    new Promise<void>((resolve, reject) => io.write(frame, (error) => (error ? reject(error) : resolve())));

  io.on('error', (error: Error) => fail(`playback device error: ${error.message}`));
  const pump = async () => {
    let started = false;
    while (running) {
      const frame = await nextFrameForDevice();
      if (!running) break;
      await writeToDevice(frame);
      stats.frames += 1;
      if (!started) {
        io.start();
        started = true;
      }
    }
  };
  pump().catch((error: unknown) => fail(`playback failed: ${error instanceof Error ? error.message : String(error)}`));
  stopStream = async () => {
    running = false;
    frameArrived?.();
    return quitWithin(io, QUIT_TIMEOUT_MS);
  };
}

function open(direction: AudioDirection, wanted: string, frameSamples: number, sampleRate: number): void {
  let devices: HostDeviceInfo[];
  try {
    devices = listDevices();
  } catch (error) {
    send({ type: 'failed', message: `cannot list audio devices: ${(error as Error).message}` });
    return;
  }
  let resolved;
  try {
    resolved = resolveDevice(wanted, direction, devices, soundCards());
  } catch (error) {
    const available = (error as { available?: string[] }).available ?? [];
    send({ type: 'not-found', wanted, direction, available });
    return;
  }
  try {
    if (direction === 'capture') startCapture(resolved.device.id, frameSamples, sampleRate);
    else startPlayback(resolved.device.id, frameSamples, sampleRate);
  } catch (error) {
    send({ type: 'failed', message: `cannot open ${direction} device "${resolved.device.name}": ${(error as Error).message}` });
    return;
  }
  send({ type: 'opened', deviceName: resolved.device.name, deviceId: resolved.device.id, otherMatches: resolved.otherMatches });
  setInterval(() => send({ type: 'stats', stats }), STATS_INTERVAL_MS).unref();
}

function fail(message: string): void {
  if (exiting) return;
  send({ type: 'failed', message });
  void shutdown(1);
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  const stopped = (await stopStream?.()) ?? true;
  send({ type: 'stats', stats });
  send({ type: 'closed' });
  toParent.end();
  setImmediate(() => {
    // A PortAudio thread stuck in a device read would make a normal exit wait for it forever.
    if (stopped) process.exit(code);
    else process.kill(process.pid, 'SIGKILL');
  });
}

process.on('message', (message: ParentToHostMessage) => {
  switch (message.type) {
    case 'list': {
      try {
        send({ type: 'devices', devices: listDevices() });
      } catch (error) {
        send({ type: 'failed', message: `cannot list audio devices: ${(error as Error).message}` });
      }
      void shutdown(0);
      break;
    }
    case 'open':
      open(message.direction, message.device, message.frameSamples, message.sampleRate);
      break;
    case 'relay':
      relaying = message.on;
      break;
    case 'close':
      void shutdown(0);
      break;
  }
});
// The service went away without closing us: do not keep the device open as an orphan.
process.on('disconnect', () => void shutdown(0));
send({ type: 'started' });
