import type { Encoder } from '../codec/codec.js';
import type { PacketFormat } from './packet-format.js';

export interface MediaSenderOptions {
  encoder: Encoder;
  packetFormat: PacketFormat;
  frameSamples: number;
  /** Random per stream (RFC 3550 8.1); the caller draws it so this class stays deterministic. */
  ssrc: number;
  /** Random initial values make known-plaintext attacks on later SRTP harder (RFC 3550 5.1). */
  initialSequence: number;
  initialTimestamp: number;
}

/** Turns captured frames into datagrams: encode, number, timestamp, serialise. No I/O. */
export class MediaSender {
  private sequence: number;
  private timestamp: number;
  private sent = 0;
  /** The capture position of the first frame sent: RTP time 0 of the stream. */
  private firstPosition: number | null = null;

  constructor(private readonly options: MediaSenderOptions) {
    this.sequence = options.initialSequence & 0xffff;
    this.timestamp = options.initialTimestamp >>> 0;
  }

  get packetsSent(): number {
    return this.sent;
  }

  /** Frees the encoder (native state for Opus); the sender is unusable afterwards. */
  close(): void {
    this.options.encoder.close();
  }

  /**
   * Encodes one frame of exactly `frameSamples` samples and returns the datagram to send.
   * `capturePosition`, where the sound device numbers its samples: the index of pcm[0]. Then the
   * RTP timestamp follows the capture clock (RFC 3550 5.1), and frames the device lost (a stalled
   * service) show as a jump in media time, not as a sender suddenly late by that much.
   */
  sendFrame(pcm: Int16Array, capturePosition?: number): Buffer {
    if (pcm.length !== this.options.frameSamples) {
      throw new RangeError(`sendFrame expects ${this.options.frameSamples} samples, got ${pcm.length}`);
    }
    if (capturePosition !== undefined) {
      this.firstPosition ??= capturePosition;
      this.timestamp = (this.options.initialTimestamp + (capturePosition - this.firstPosition)) >>> 0;
    }
    const payload = this.options.encoder.encode(pcm);
    const datagram = this.options.packetFormat.serialize({
      ssrc: this.options.ssrc >>> 0,
      sequence: this.sequence,
      timestamp: this.timestamp,
      payloadType: this.options.packetFormat.payloadType,
      // RFC 3551 4.1: the marker flags the first packet of a talkspurt; a stream start is one.
      marker: this.sent === 0,
      payload,
    });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + this.options.frameSamples) >>> 0;
    this.sent++;
    return datagram;
  }
}
