import { createHmac } from 'node:crypto';
import { EphemeralKeyShare, openText, sealText } from './ephemeral-exchange.js';

/**
 * Keying of a call's audio, with forward secrecy.
 *
 * Each side makes a fresh X25519 key pair for the call and sends its public value inside the
 * signed signaling (the caller's in the offer, the callee's in the accept request), so both public
 * values are authenticated with the site secret and bound to the call id and both unit ids by the
 * request signatures. From the X25519 shared secret, HKDF-SHA256 derives one sealing key per
 * direction; its input binds the call id, both unit ids and both public values (the transcript)
 * and, as salt, a key derived from the site secret. Each side's SRTP master key and salt (fresh
 * random per call, made by the media engine) then travels sealed with AES-256-GCM under the key of
 * its direction, the transcript as associated data.
 *
 * Someone who records every byte of a call has the public values and the sealed keys; without one
 * of the two private keys, which never leave the unit's memory and are dropped as soon as the
 * sealing keys are derived, the shared secret cannot be computed. Learning the site secret later
 * does not help: it only authenticated the exchange.
 */

export type CallKeyDirection = 'caller-to-callee' | 'callee-to-caller';

/** What both sides bind the derived keys to. */
export interface CallKeyTranscript {
  callId: string;
  callerUnitId: string;
  calleeUnitId: string;
  callerKeyShare: string;
  calleeKeyShare: string;
}

const INFO_TAG = 'pi-intercom call keys v2';
const SALT_LABEL = 'pi-intercom call key salt v2';
const SEALING_KEY_BYTES = 32;

function transcriptText(transcript: CallKeyTranscript): string {
  return [INFO_TAG, transcript.callId, transcript.callerUnitId, transcript.calleeUnitId, transcript.callerKeyShare, transcript.calleeKeyShare].join('\n');
}

/** The two directions' sealing keys of one call. */
export class CallSealingKeys {
  constructor(
    private readonly keys: Record<CallKeyDirection, Buffer>,
    private readonly associatedData: string,
  ) {}

  /** Seals `plaintext` (a side's SRTP key parameters) for `direction`: base64url of IV, ciphertext and tag. */
  seal(direction: CallKeyDirection, plaintext: string): string {
    return sealText(this.keys[direction], plaintext, `${this.associatedData}\n${direction}`);
  }

  /** Opens what the other side sealed for `direction`; throws when it was not sealed under this call's key (tampered, or another call's). */
  open(direction: CallKeyDirection, sealed: string): string {
    return openText(this.keys[direction], sealed, `${this.associatedData}\n${direction}`, {
      tooShort: 'sealed call keys are too short',
      wrongKey: 'the sealed call keys do not open under this call\'s key exchange (tampered, or from another call)',
    });
  }
}

/** One side's ephemeral key pair for one call. The private half is used once, then dropped. */
export class CallKeyShare {
  private readonly share = new EphemeralKeyShare();
  /** The public value, base64url (what travels in the signaling). */
  readonly publicValue = this.share.publicValue;

  constructor(private readonly salt: Buffer) {}

  /**
   * The sealing keys of the call, from the other side's public value. Throws on a public value that
   * is malformed, our own (a reflected offer), or yields no secret (a low-order point); and when
   * called twice, since the private key is forgotten after the first use.
   */
  agree(remotePublicValue: string, transcript: CallKeyTranscript): CallSealingKeys {
    const info = transcriptText(transcript);
    const material = this.share.derive(remotePublicValue, this.salt, info, 2 * SEALING_KEY_BYTES, 'the peer');
    return new CallSealingKeys(
      { 'caller-to-callee': material.subarray(0, SEALING_KEY_BYTES), 'callee-to-caller': material.subarray(SEALING_KEY_BYTES) },
      info,
    );
  }
}

/** Makes the key shares of a site's calls: the site secret salts the derivation. */
export class CallKeyExchange {
  private salt: Buffer;

  constructor(siteSecret: string) {
    this.salt = createHmac('sha256', siteSecret).update(SALT_LABEL, 'utf8').digest();
  }

  /** The site secret changed: calls from now on are salted with the new one. */
  setSiteSecret(siteSecret: string): void {
    this.salt = createHmac('sha256', siteSecret).update(SALT_LABEL, 'utf8').digest();
  }

  newShare(): CallKeyShare {
    return new CallKeyShare(this.salt);
  }
}
