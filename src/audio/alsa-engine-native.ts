/**
 * Loads the project's ALSA engine addon (src/audio/alsa-engine, built by scripts/build-native.mjs
 * against the system alsa-lib) and types what it exports. Loading is lazy, so importing this
 * module never fails on a machine without the addon; `loadAlsaEngine()` says why it cannot load.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageRoot } from '../system/package-root.js';

export const ENGINE_EVENT = { capture: 1, playback: 2, error: 4, stopped: 8 } as const;

export interface NativeEngineOptions {
  captureDevice: string | null;
  playbackDevice: string | null;
  periodFrames: number;
  playbackPeriods: number;
  capturePeriods: number;
  frameSamples: number;
  realtimePriority: number;
}

export interface NativeEngineStats {
  capturePeriods: number;
  playbackPeriods: number;
  captureOverruns: number;
  playbackUnderruns: number;
  starvedSamples: number;
  captureFramesDropped: number;
  referenceOffset: number;
  referenceOffsetRaw: number;
  referenceOffsetChanges: number;
  captureDelayFrames: number;
  playbackDelayFrames: number;
  realtime: boolean;
  running: boolean;
}

export interface NativeEngine {
  start(): void;
  stop(): void;
  close(): void;
  state(): 'idle' | 'running' | 'stopping' | 'wedged';
  takeEvents(): number;
  error(): string;
  setCaptureWanted(wanted: boolean): void;
  /**
   * Copies one captured frame; returns its capture time (engine clock, ms) or -1 when none waits.
   * `position[0]` gets the device position of its first sample.
   */
  readCapture(mic: Int16Array, reference: Int16Array, position?: Float64Array): number;
  writePlayback(pcm: Int16Array): number;
  skipPlayback(position: number): void;
  setLowWater(samples: number): void;
  /** [read position, write position, position leaving the speaker, at (engine clock, ms)] */
  playbackStatus(out: Float64Array): void;
  stats(): NativeEngineStats;
}

export interface NativeAlsaListing {
  pcms: { name: string | null; description: string | null; direction: 'capture' | 'playback' | null }[];
  cards: { index: number; id: string; name: string }[];
}

export interface AlsaEngineAddon {
  open(options: NativeEngineOptions, onEvents: () => void): Promise<NativeEngine>;
  /** CLOCK_MONOTONIC in ms: the clock of libuv, hence of performance.now() (offset by its origin). */
  nowMs(): number;
  listDevices(): NativeAlsaListing;
}

const ADDON_PATH_IN_PACKAGE = join('src', 'audio', 'alsa-engine', 'build', 'Release', 'alsa_engine.node');

let loaded: AlsaEngineAddon | undefined;

/** @throws Error naming the missing file or the load failure (e.g. no libasound2). */
export function loadAlsaEngine(): AlsaEngineAddon {
  if (loaded) return loaded;
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  const addonPath = join(root, ADDON_PATH_IN_PACKAGE);
  if (!existsSync(addonPath)) {
    throw new Error(`the ALSA engine is not built (${addonPath} is missing): install libasound2-dev and a C compiler, then run "node scripts/build-native.mjs"`);
  }
  try {
    loaded = createRequire(import.meta.url)(addonPath) as AlsaEngineAddon;
  } catch (error) {
    throw new Error(`the ALSA engine at ${addonPath} failed to load (is libasound2 installed?): ${(error as Error).message}`, { cause: error });
  }
  return loaded;
}
