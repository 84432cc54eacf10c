import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageRoot } from '../system/package-root.js';

/**
 * The project's Node-API addon over the system speexdsp (src/audio-processing/speex-native),
 * loaded on first use so that importing this module never fails where it is not built.
 */

export interface SpeexProcessorOptions {
  sampleRate: number;
  blockSamples: number;
  /** 0: no echo canceller. */
  echoFilterSamples: number;
  /** The preprocessor after the canceller (residual echo and noise suppression, speech probability); it delays the output by one block. */
  preprocess: boolean;
  /** Noise suppression in the preprocessor (off: a 0 dB noise floor). */
  denoise: boolean;
  noiseSuppressDb: number;
  echoSuppressDb: number;
  echoSuppressActiveDb: number;
}

export interface NativeSpeexProcessor {
  /**
   * Whole blocks in, as many out (output may be mic; with the preprocessor it lags mic by one
   * block). figures (length >= 5) receives: mic energy, reference energy, energy after the
   * canceller, output energy (sums of squares), speech probability of the last block (0..1).
   */
  process(mic: Int16Array, reference: Int16Array | null, output: Int16Array, figures?: Float64Array): void;
  reset(): void;
  impulseResponse(): Float32Array | null;
  close(): void;
}

interface SpeexAddon {
  SpeexProcessor: new (options: SpeexProcessorOptions) => NativeSpeexProcessor;
}

const ADDON_PATH_IN_PACKAGE = join('src', 'audio-processing', 'speex-native', 'build', 'Release', 'speex_addon.node');
const BUILD_COMMAND = 'node scripts/build-native.mjs --force';

let loaded: SpeexAddon | undefined;

export function loadSpeexAddon(): SpeexAddon {
  if (loaded !== undefined) return loaded;
  const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  const addonPath = join(packageRoot, ADDON_PATH_IN_PACKAGE);
  if (!existsSync(addonPath)) {
    throw new Error(
      `The speexdsp addon is not built (${addonPath} is missing). Install libspeexdsp-dev and a C compiler, ` +
        `then run "${BUILD_COMMAND}" in ${packageRoot} (npm install runs it too).`,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(addonPath) as SpeexAddon;
  } catch (error) {
    throw new Error(
      `The speexdsp addon at ${addonPath} failed to load; rebuild it with "${BUILD_COMMAND}" ` +
        `(the system speexdsp, Debian package libspeexdsp1, must be installed)`,
      { cause: error },
    );
  }
  return loaded;
}
