import type { ReceiveStats } from '../media/receive-stats.js';
import type { WireFormatName } from '../config/schema.js';

/** What one side of a call tells the other so audio can flow: sent in the accept/answer exchange. */
export interface MediaEndpoint {
  /** Address the other unit should send RTP to (as seen by the signaling peer, normally its IP). */
  address: string;
  udpPort: number;
  /** The wire format this side receives (its audio.format), so the one the other side sends in. */
  format: WireFormatName;
  /** SSRC this side will send with, so the receiver can reject strangers' streams. */
  ssrc: number;
  /** Frame length of both directions: the two sides must agree, a mismatch is refused. */
  frameMs: number;
  /**
   * SRTP keying, in the style of SDP's a=crypto: a suite name and key parameters, sealed to the
   * call by src/security/call-key-exchange.ts. Absent only when both units set audio.srtp false;
   * a side that does not support the offered suite refuses.
   */
  crypto?: MediaCrypto;
}

/**
 * Keying material for SRTP, exchanged inside the (authenticated) signaling: suite
 * AES_CM_128_HMAC_SHA1_80 and "inline:" key parameters for the keys the offering side sends with
 * (src/media/srtp-negotiation.ts).
 */
export interface MediaCrypto {
  suite: string;
  keyParams: string;
}

/** The receiver's figures a call reports (the rest of ReceiveStats stays in the media engine's log). */
export const CALL_RECEIVE_FIGURES = [
  'currentDelayMs',
  'targetDelayMs',
  'jitterMs',
  'packetsReceived',
  'packetsLost',
  'packetsLate',
  'packetsDuplicated',
  'packetsReordered',
  'packetsMalformed',
  'concealedMs',
  'timeScaledMs',
  'underruns',
  'driftPpm',
] as const satisfies readonly (keyof ReceiveStats)[];

/** Live audio figures of the current call, as reported in /api/status and /api/events. */
export type CallMediaStats = Pick<ReceiveStats, (typeof CALL_RECEIVE_FIGURES)[number]> & {
  packetsSent: number;
  /** Milliseconds since the last valid packet from the peer (for peer-lost detection), or null before any. */
  msSinceLastPacket: number | null;
};

/** The sound devices as /api/status reports them. */
export interface AudioDeviceState {
  available: boolean;
  captureDevice: string | null;
  playbackDevice: string | null;
  /** Why audio is unavailable (device missing, backend failed), or null. */
  error: string | null;
  /** Whether call audio is SRTP-encrypted; false only when audio.srtp is set to false. */
  encrypted: boolean;
  /** The capture processing's figures (echo canceller, gain, delay found), null when it is off. */
  processing?: object | null;
}

/**
 * The media engine as the call service sees it: one active call at a time. Implemented by
 * src/streaming/call-audio.ts over the real UDP socket and audio devices, and by a test double.
 */
export interface CallMedia {
  /** Whether capture/playback devices are open; calls still work without them (silence). */
  readonly audioAvailable: boolean;
  audioState(): AudioDeviceState;
  /** Reserves local media for a call and returns what to tell the peer. */
  prepare(callId: string): MediaEndpoint;
  /**
   * Starts audio both ways with the peer's endpoint; throws when the two cannot be joined (SRTP
   * disagreement, different frameMs, the seed format under SRTP).
   */
  start(callId: string, remote: MediaEndpoint): void;
  /**
   * Settles once the call's audio runs: rejects when what start() began asynchronously (loading
   * the codecs) failed, so the call service can end the call instead of leaving it silent.
   */
  whenStarted(callId: string): Promise<void>;
  /** Stops audio for the call (idempotent); devices stay open for the next call. */
  stop(callId: string): void;
  stats(callId: string): CallMediaStats | null;
}
