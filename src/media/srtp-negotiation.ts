import { SRTP_SUITE, generateSrtpKeyParams, parseSrtpKeyParams, type SrtpMasterKeys } from './srtp.js';

/** Keying as it travels in MediaEndpoint.crypto (the shape of SDP's a=crypto, RFC 4568). */
export interface SrtpOffer {
  suite: string;
  keyParams: string;
}

/** A fresh offer for one call: the keys this side will send with (SDES: each side keys its own sending). */
export function createSrtpOffer(): SrtpOffer {
  return { suite: SRTP_SUITE, keyParams: generateSrtpKeyParams() };
}

export type SrtpAgreement =
  | { ok: true; keys: { send: SrtpMasterKeys; receive: SrtpMasterKeys } | null }
  | { ok: false; reason: string };

/**
 * Decides how a call's audio is protected from what each side offered. Both offered: SRTP, each
 * side sending under its own keys. Neither offered: plain RTP, which only happens when both units
 * are configured for it. One-sided: refused, so that an encrypting unit never falls back to plain
 * RTP because a peer (or someone tampering with signaling) left the keys out.
 */
export function agreeOnSrtp(local: SrtpOffer | undefined, remote: SrtpOffer | undefined): SrtpAgreement {
  if (!local && !remote) return { ok: true, keys: null };
  if (!local) return { ok: false, reason: 'the peer requires SRTP but this unit is configured for plain RTP (audio.srtp is false)' };
  if (!remote) return { ok: false, reason: 'the peer offers plain RTP but this unit requires SRTP (audio.srtp)' };
  if (remote.suite !== SRTP_SUITE) return { ok: false, reason: `the peer offers SRTP suite "${remote.suite}"; only ${SRTP_SUITE} is supported` };
  const send = parseSrtpKeyParams(local.keyParams);
  if (!send.ok) return { ok: false, reason: `local SRTP keys: ${send.reason}` };
  const receive = parseSrtpKeyParams(remote.keyParams);
  if (!receive.ok) return { ok: false, reason: `the peer's SRTP keys: ${receive.reason}` };
  if (local.keyParams === remote.keyParams) return { ok: false, reason: "the peer's SRTP keys are this unit's own (reflected offer)" };
  return { ok: true, keys: { send: send.keys, receive: receive.keys } };
}
