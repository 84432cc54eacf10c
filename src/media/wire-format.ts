import type { WireFormatName } from '../config/schema.js';
import { rtpPacketFormat, seedPacketFormat, type PacketFormat } from './packet-format.js';

/**
 * Dynamic RTP payload types (RFC 3551 section 3: 96-127 are negotiated). Both units use the same
 * fixed numbers, announced implicitly by the `audio.format` they exchange in signaling.
 */
export const OPUS_PAYLOAD_TYPE = 111;
export const L16_PAYLOAD_TYPE = 96;

/** Which codec each configured wire format carries. */
export function codecNameFor(format: WireFormatName): 'opus' | 'l16' | 'pcm-le' {
  switch (format) {
    case 'rtp-opus':
      return 'opus';
    case 'rtp-l16':
      return 'l16';
    case 'seed':
      return 'pcm-le';
  }
}

/** A fresh packet format for one stream of the configured wire format. */
export function packetFormatFor(format: WireFormatName, frameSamples: number): PacketFormat {
  switch (format) {
    case 'rtp-opus':
      return rtpPacketFormat(OPUS_PAYLOAD_TYPE);
    case 'rtp-l16':
      return rtpPacketFormat(L16_PAYLOAD_TYPE);
    case 'seed':
      return seedPacketFormat(frameSamples);
  }
}
