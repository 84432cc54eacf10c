import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Codec, CodecOptions, Decoder, Encoder } from './codec.js';
import { findPackageRoot } from '../system/package-root.js';

/**
 * Opus through the project's own Node-API addon (src/codec/opus-native) over the system libopus:
 * 48 kHz mono, VOIP application, in-band FEC on. The addon is loaded on first use, so importing
 * this module never fails on a machine where it has not been built.
 */

/** Loss the encoder plans for unless told otherwise; at 24-32 kbit/s it makes libopus emit FEC. */
export const DEFAULT_EXPECTED_LOSS_PERCENT = 10;

/** Frame sizes libopus encodes at 48 kHz: 2.5, 5, 10, 20, 40, 60, 80, 100 and 120 ms. */
const OPUS_FRAME_SAMPLES: ReadonlySet<number> = new Set([120, 240, 480, 960, 1920, 2880, 3840, 4800, 5760]);

const ADDON_PATH_IN_PACKAGE = join('src', 'codec', 'opus-native', 'build', 'Release', 'opus_addon.node');
const BUILD_COMMAND = 'npx node-gyp rebuild --directory=src/codec/opus-native';

interface NativeEncoderOptions {
  maxBandwidthHz?: number;
  bitrate: number;
  packetLossPercent?: number;
  complexity?: number;
  inbandFec?: boolean;
}

interface NativeOpusEncoder {
  encode(pcm: Int16Array): Uint8Array;
  close(): void;
}

interface NativeOpusDecoder {
  decode(payload: Uint8Array): Int16Array;
  decodeFec(nextPayload: Uint8Array, frameSamples: number): Int16Array | null;
  conceal(frameSamples: number): Int16Array;
  close(): void;
}

interface NativeOpusAddon {
  OpusEncoder: new (options: NativeEncoderOptions) => NativeOpusEncoder;
  OpusDecoder: new () => NativeOpusDecoder;
  version(): string;
  packetHasFec(payload: Uint8Array): boolean;
}

let loadedAddon: NativeOpusAddon | undefined;

function loadAddon(): NativeOpusAddon {
  if (loadedAddon !== undefined) return loadedAddon;
  const moduleDirectory = dirname(fileURLToPath(import.meta.url));
  const packageRoot = findPackageRoot(moduleDirectory);
  const addonPath = join(packageRoot, ADDON_PATH_IN_PACKAGE);
  if (!existsSync(addonPath)) {
    throw new Error(
      `The Opus addon is not built (${addonPath} is missing). Install libopus-dev and a C compiler, ` +
        `then run "${BUILD_COMMAND}" in ${packageRoot} (npm install runs it too).`,
    );
  }
  try {
    loadedAddon = createRequire(import.meta.url)(addonPath) as NativeOpusAddon;
  } catch (error) {
    throw new Error(
      `The Opus addon at ${addonPath} failed to load; rebuild it with "${BUILD_COMMAND}" ` +
        `(the system libopus, Debian package libopus0, must be installed)`,
      { cause: error },
    );
  }
  return loadedAddon;
}

/** The libopus version string, e.g. "libopus 1.3.1". Loads the addon. */
export function opusLibraryVersion(): string {
  return loadAddon().version();
}

/**
 * Whether a payload carries in-band FEC (SILK LBRR) for the frame before it.
 * Throws on a payload that is not a well-formed Opus packet.
 */
export function opusPacketHasFec(payload: Uint8Array): boolean {
  return loadAddon().packetHasFec(payload);
}

class OpusFrameEncoder implements Encoder {
  constructor(
    private readonly native: NativeOpusEncoder,
    private readonly frameSamples: number,
  ) {}

  encode(pcm: Int16Array): Uint8Array {
    if (pcm.length !== this.frameSamples) {
      throw new RangeError(`Opus encoder expects frames of ${this.frameSamples} samples, got ${pcm.length}`);
    }
    return this.native.encode(pcm);
  }

  close(): void {
    this.native.close();
  }
}

/**
 * Every method throws an Error on a payload libopus rejects; the receive path counts it and conceals.
 * Loss recovery, in order: when packet N is lost and N+1 has arrived, call `recoverFromNext(N+1)`
 * before `decode(N+1)`; when it returns null (no FEC in N+1), call `conceal` instead.
 */
class OpusFrameDecoder implements Decoder {
  readonly canRecoverFromNext = true;

  constructor(private readonly native: NativeOpusDecoder) {}

  decode(payload: Uint8Array): Int16Array {
    return this.native.decode(payload);
  }

  recoverFromNext(nextPayload: Uint8Array, frameSamples: number): Int16Array | null {
    return this.native.decodeFec(nextPayload, frameSamples);
  }

  conceal(frameSamples: number): Int16Array {
    return this.native.conceal(frameSamples);
  }

  close(): void {
    this.native.close();
  }
}

export interface OpusCodecSettings {
  /** libopus encoder complexity 0-10 (CPU against quality); libopus's default when absent. */
  complexity?: number;
}

export function createOpusCodec(settings: OpusCodecSettings = {}): Codec {
  return {
    name: 'opus',
    createEncoder(options: CodecOptions): Encoder {
      if (!OPUS_FRAME_SAMPLES.has(options.frameSamples)) {
        throw new RangeError(`Opus cannot encode frames of ${options.frameSamples} samples at 48 kHz`);
      }
      const native = new (loadAddon().OpusEncoder)({
        bitrate: options.bitrate,
        packetLossPercent: options.expectedLossPercent ?? DEFAULT_EXPECTED_LOSS_PERCENT,
        complexity: options.complexity ?? settings.complexity,
        maxBandwidthHz: options.maxBandwidthHz,
        inbandFec: true,
      });
      return new OpusFrameEncoder(native, options.frameSamples);
    },
    createDecoder(): Decoder {
      return new OpusFrameDecoder(new (loadAddon().OpusDecoder)());
    },
  };
}

/** Opus with libopus's default complexity. */
export const opusCodec: Codec = createOpusCodec();
