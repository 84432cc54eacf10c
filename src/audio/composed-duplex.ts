/**
 * A DuplexStream made of a backend's separate capture and playback streams, for backends without
 * a duplex engine of their own (naudiodon, the portable one). The devices keep running for the
 * life of the stream (reopening PortAudio streams leaks); "inactive" only stops relaying frames to
 * the service. The playback reference is what was played a fixed number of frames earlier, the
 * backend's estimate of its own output and input delays: approximate, which an echo canceller
 * with its own delay estimation tolerates; the ALSA engine's reference is measured instead.
 */
import type { AudioBackend, AudioStream, DuplexOptions, DuplexStream } from './audio-backend.js';

export interface ComposedDuplexOptions extends DuplexOptions {
  /** Frames between handing a frame to the playback stream and a captured frame overlapping it. */
  referenceDelayFrames: number;
}

export async function composeDuplex(backend: AudioBackend, options: ComposedDuplexOptions): Promise<DuplexStream> {
  const silence = new Int16Array(options.frameSamples);
  const played: Int16Array[] = [];
  let active = false;
  let captureWanted = true;
  let capture: AudioStream | undefined;
  let playback: AudioStream | undefined;
  try {
    if (options.playbackDevice !== null) {
      playback = await backend.openPlayback({
        device: options.playbackDevice,
        frameSamples: options.frameSamples,
        nextFrame: (timing) => {
          const frame = options.nextFrame?.(timing ?? { playoutAtMs: performance.now(), outputDelayMs: 0 }) ?? silence;
          played.push(frame);
          if (played.length > options.referenceDelayFrames + 1) played.shift();
          return frame;
        },
        onError: options.onError,
      });
    }
    if (options.captureDevice !== null) {
      capture = await backend.openCapture({
        device: options.captureDevice,
        frameSamples: options.frameSamples,
        onFrame: (mic) => {
          if (!captureWanted) return;
          const reference = played.length > options.referenceDelayFrames ? played[played.length - 1 - options.referenceDelayFrames] : silence;
          options.onCapture?.({ mic, reference: reference.slice(), capturedAtMs: performance.now() - (options.frameSamples / 48) });
        },
        onError: options.onError,
      });
    }
  } catch (error) {
    await Promise.allSettled([capture?.close(), playback?.close()]);
    throw error;
  }
  const setRelaying = (relaying: boolean) => {
    capture?.setRelaying?.(relaying);
    playback?.setRelaying?.(relaying);
    if (!relaying) played.length = 0;
  };
  setRelaying(false);
  return {
    captureDevice: capture?.deviceName ?? null,
    playbackDevice: playback?.deviceName ?? null,
    get active() {
      return active;
    },
    async setActive(value: boolean) {
      active = value;
      setRelaying(value);
    },
    setCaptureWanted(wanted: boolean) {
      captureWanted = wanted;
    },
    stats: () => ({ capture: capture?.stats?.() ?? null, playback: playback?.stats?.() ?? null }),
    async close() {
      await Promise.allSettled([capture?.close(), playback?.close()]);
    },
  };
}
