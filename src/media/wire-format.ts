import type { WireFormatName } from '../config/schema.js';
import { rtpPacketFormat, seedPacketFormat, type PacketFormat } from './packet-format.js';
import { DYNAMIC_PAYLOAD_TYPES } from './rtp-packet.js';

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

export interface PacketFormatOptions {
  /**
   * Accept every dynamic payload type (96-127) as the configured codec, for a receiver that has
   * no signaling to bind a number to it (`intercom recv`): other RTP stacks pick their own
   * numbers, e.g. GStreamer's rtpopuspay sends 96. Static and reserved types are still refused.
   * What is sent does not change.
   */
  anyDynamicPayloadType?: boolean;
}

/** A fresh packet format for one stream of the configured wire format. */
export function packetFormatFor(format: WireFormatName, frameSamples: number, options: PacketFormatOptions = {}): PacketFormat {
  const rtp = (payloadType: number) => rtpPacketFormat(payloadType, options.anyDynamicPayloadType ? DYNAMIC_PAYLOAD_TYPES : payloadType);
  switch (format) {
    case 'rtp-opus':
      return rtp(OPUS_PAYLOAD_TYPE);
    case 'rtp-l16':
      return rtp(L16_PAYLOAD_TYPE);
    case 'seed':
      return seedPacketFormat(frameSamples);
  }
}
