/** One received or sent media packet, independent of its wire format. */
export interface MediaPacket {
  /** Synchronisation source: identifies one sender's stream; a new SSRC means the sender restarted. */
  ssrc: number;
  /** 16-bit sequence number, wrapping. */
  sequence: number;
  /** 32-bit RTP timestamp in 48 kHz samples, wrapping. */
  timestamp: number;
  payloadType: number;
  marker: boolean;
  payload: Uint8Array;
}

/** Result of parsing one datagram: never throws, so a stranger's bytes cannot crash the receiver. */
export type ParseResult = { ok: true; packet: MediaPacket } | { ok: false; reason: string };
