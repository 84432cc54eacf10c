import type { Codec, CodecOptions, Decoder, Encoder } from './codec.js';
import { PitchConcealer } from '../media/pitch-concealer.js';

/**
 * RTP L16 (RFC 3551 section 4.5.11): uncompressed 16-bit signed PCM in network byte order
 * (big-endian). 48 kHz mono 20 ms = 1920 bytes per packet, so only for a LAN or for testing.
 *
 * Concealment: a faded repeat of the last pitch period (see PitchConcealer). Silence would click
 * at the start and end of every lost frame; the pitch repeat bridges a single lost frame almost
 * inaudibly, and fading out by 60 ms keeps a longer gap from buzzing.
 */
export const l16Codec: Codec = {
  name: 'l16',
  createEncoder: (options) => new L16Encoder(options),
  createDecoder: () => new L16Decoder(),
};

class L16Encoder implements Encoder {
  constructor(private readonly options: CodecOptions) {}

  encode(pcm: Int16Array): Uint8Array {
    if (pcm.length !== this.options.frameSamples) {
      throw new RangeError(`L16 encoder expects ${this.options.frameSamples} samples, got ${pcm.length}`);
    }
    const payload = new Uint8Array(pcm.length * 2);
    const view = new DataView(payload.buffer);
    for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i], false);
    return payload;
  }

  close(): void {}
}

class L16Decoder implements Decoder {
  readonly canRecoverFromNext = false;
  private readonly concealer = new PitchConcealer();

  decode(payload: Uint8Array): Int16Array {
    if (payload.byteLength % 2 !== 0 || payload.byteLength === 0) {
      throw new RangeError(`L16 payload must be a non-zero even number of bytes, got ${payload.byteLength}`);
    }
    const pcm = new Int16Array(payload.byteLength / 2);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(i * 2, false);
    return this.concealer.decoded(pcm);
  }

  recoverFromNext(): Int16Array | null {
    return null;
  }

  conceal(frameSamples: number): Int16Array {
    return this.concealer.conceal(frameSamples);
  }

  close(): void {}
}
