import { open, type FileHandle } from 'node:fs/promises';
import { SAMPLE_RATE } from '../codec/codec.js';

const HEADER_BYTES = 44;

/**
 * Streams 48 kHz mono 16-bit PCM into a WAV file as it arrives, so a long recording never sits
 * in memory; the RIFF sizes are filled in on close().
 */
export class WavWriter {
  private dataBytes = 0;
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(private readonly file: FileHandle) {}

  static async create(path: string): Promise<WavWriter> {
    const file = await open(path, 'w');
    await file.write(header(0), 0, HEADER_BYTES, 0);
    return new WavWriter(file);
  }

  write(pcm: Int16Array): void {
    const bytes = Buffer.alloc(pcm.length * 2);
    for (let i = 0; i < pcm.length; i += 1) bytes.writeInt16LE(pcm[i], i * 2);
    const position = HEADER_BYTES + this.dataBytes;
    this.dataBytes += bytes.length;
    this.pending = this.pending.then(() => this.file.write(bytes, 0, bytes.length, position));
  }

  async close(): Promise<void> {
    await this.pending;
    await this.file.write(header(this.dataBytes), 0, HEADER_BYTES, 0);
    await this.file.close();
  }
}

function header(dataBytes: number): Buffer {
  const buffer = Buffer.alloc(HEADER_BYTES);
  buffer.write('RIFF', 0, 'ascii');
  buffer.writeUInt32LE(36 + dataBytes, 4);
  buffer.write('WAVE', 8, 'ascii');
  buffer.write('fmt ', 12, 'ascii');
  buffer.writeUInt32LE(16, 16); // PCM fmt chunk size
  buffer.writeUInt16LE(1, 20); // PCM
  buffer.writeUInt16LE(1, 22); // mono
  buffer.writeUInt32LE(SAMPLE_RATE, 24);
  buffer.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
  buffer.writeUInt16LE(2, 32); // block align
  buffer.writeUInt16LE(16, 34); // bits per sample
  buffer.write('data', 36, 'ascii');
  buffer.writeUInt32LE(dataBytes, 40);
  return buffer;
}
