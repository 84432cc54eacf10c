import type { Codec, CodecOptions, Decoder, Encoder } from './codec.js';

/** A 2 ms ramp from the last played sample to zero, so a lost frame does not start with a click. */
const RAMP_SAMPLES = 96;

/**
 * Little-endian 16-bit PCM, the payload of the original system's seed format.
 *
 * Concealment fills a lost frame with silence, as the original did, so a unit talking to an
 * original device sounds the same; only a 2 ms ramp down from the last sample is added, because a
 * step to zero is an audible click.
 */
export const pcmLeCodec: Codec = {
  name: 'pcm-le',
  createEncoder: (options) => new PcmLeEncoder(options),
  createDecoder: () => new PcmLeDecoder(),
};

class PcmLeEncoder implements Encoder {
  constructor(private readonly options: CodecOptions) {}

  encode(pcm: Int16Array): Uint8Array {
    if (pcm.length !== this.options.frameSamples) {
      throw new RangeError(`PCM encoder expects ${this.options.frameSamples} samples, got ${pcm.length}`);
    }
    const payload = new Uint8Array(pcm.length * 2);
    const view = new DataView(payload.buffer);
    for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i], true);
    return payload;
  }

  close(): void {}
}

class PcmLeDecoder implements Decoder {
  readonly canRecoverFromNext = false;
  private lastSample = 0;

  decode(payload: Uint8Array): Int16Array {
    if (payload.byteLength % 2 !== 0 || payload.byteLength === 0) {
      throw new RangeError(`PCM payload must be a non-zero even number of bytes, got ${payload.byteLength}`);
    }
    const pcm = new Int16Array(payload.byteLength / 2);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(i * 2, true);
    this.lastSample = pcm[pcm.length - 1];
    return pcm;
  }

  recoverFromNext(): Int16Array | null {
    return null;
  }

  conceal(frameSamples: number): Int16Array {
    const silence = new Int16Array(frameSamples);
    const ramp = Math.min(RAMP_SAMPLES, frameSamples);
    for (let i = 0; i < ramp; i++) silence[i] = Math.round(this.lastSample * (1 - (i + 1) / ramp));
    this.lastSample = 0;
    return silence;
  }

  close(): void {}
}
