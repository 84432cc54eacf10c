import { randomInt } from 'node:crypto';
import type { WireFormatName } from '../config/schema.js';
import type { Codec } from '../codec/codec.js';
import { frameSamplesFor } from '../codec/codec.js';
import { codecNameFor, packetFormatFor } from '../media/wire-format.js';
import { MediaSender } from '../media/media-sender.js';
import { MediaReceiver } from '../media/media-receiver.js';
import { srtpPacketFormat, type SrtpMasterKeys } from '../media/srtp.js';
import type { PacketFormat } from '../media/packet-format.js';

export interface StreamSettings {
  format: WireFormatName;
  frameMs: number;
  bitrate: number;
  /** Opus encoder complexity 0-10; libopus's default (10) when absent. */
  complexity?: number;
  /** Highest Opus audio bandwidth in Hz; unlimited when absent. */
  maxBandwidthHz?: number;
}

export interface ReceiveSettings extends StreamSettings {
  minDelayMs: number;
  maxDelayMs: number;
}

/** Loads a codec implementation on demand, so the Opus addon is only needed when Opus is used. */
export async function loadCodec(format: WireFormatName): Promise<Codec> {
  switch (codecNameFor(format)) {
    case 'opus':
      return (await import('../codec/opus.js')).opusCodec;
    case 'l16':
      return (await import('../codec/l16.js')).l16Codec;
    case 'pcm-le':
      return (await import('../codec/pcm-le.js')).pcmLeCodec;
  }
}

const random32 = () => randomInt(0, 2 ** 32 - 1) >>> 0;

/** The stream's wire format, wrapped in SRTP when keys are given. */
function streamPacketFormat(settings: StreamSettings, frameSamples: number, srtpKeys?: SrtpMasterKeys): PacketFormat {
  const format = packetFormatFor(settings.format, frameSamples);
  return srtpKeys ? srtpPacketFormat(format, srtpKeys) : format;
}

/**
 * A sender for one outgoing stream, with a random SSRC, sequence and timestamp start (RFC 3550);
 * with `srtpKeys`, it sends SRTP under them.
 */
export async function createMediaSender(settings: StreamSettings, ssrc = random32(), srtpKeys?: SrtpMasterKeys): Promise<MediaSender> {
  const codec = await loadCodec(settings.format);
  const frameSamples = frameSamplesFor(settings.frameMs);
  return new MediaSender({
    encoder: codec.createEncoder({ frameSamples, bitrate: settings.bitrate, complexity: settings.complexity, maxBandwidthHz: settings.maxBandwidthHz }),
    packetFormat: streamPacketFormat(settings, frameSamples, srtpKeys),
    frameSamples,
    ssrc,
    initialSequence: randomInt(0, 0x10000),
    initialTimestamp: random32(),
  });
}

/**
 * A receiver (parser, jitter buffer, decoder) for one incoming stream; with `expectedSsrc`, only
 * that sender is played; with `srtpKeys`, only SRTP packets that authenticate under them.
 */
export async function createMediaReceiver(settings: ReceiveSettings, expectedSsrc?: number, srtpKeys?: SrtpMasterKeys): Promise<MediaReceiver> {
  const codec = await loadCodec(settings.format);
  const frameSamples = frameSamplesFor(settings.frameMs);
  return new MediaReceiver({
    decoder: codec.createDecoder({ frameSamples, bitrate: settings.bitrate }),
    packetFormat: streamPacketFormat(settings, frameSamples, srtpKeys),
    frameSamples,
    minMs: settings.minDelayMs,
    maxMs: settings.maxDelayMs,
    expectedSsrc,
  });
}
