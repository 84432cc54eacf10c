/**
 * The unit's own sounds (ring, ringback, busy tone): sources of frames that CallAudio mixes into
 * the playback path before the device, so they reach the speaker through the same engine as call
 * audio (and appear in the echo canceller's reference, like anything else the speaker plays).
 */

/** A sound the unit plays itself. */
export interface LocalSoundSource {
  /**
   * The next `frameSamples` samples (48 kHz mono), or null when the sound has ended. Called on
   * the playback device's clock, a frame (or as much as the call's audio came in) at a time, from the moment it is set.
   */
  nextFrame(frameSamples: number): Int16Array | null;
}

/** Adds `add` onto `into` sample by sample, saturating at the 16-bit range; returns `into`. */
export function mixInto(into: Int16Array, add: Int16Array): Int16Array {
  const length = Math.min(into.length, add.length);
  for (let i = 0; i < length; i += 1) {
    const sum = into[i] + add[i];
    into[i] = sum > 32767 ? 32767 : sum < -32768 ? -32768 : sum;
  }
  return into;
}

/**
 * A sound from fixed samples, played once (or `repeat` times, or for ever with Infinity), then
 * ended: for tests and for tones computed up front.
 */
export function samplesSound(samples: Int16Array, repeat = 1): LocalSoundSource {
  let offset = 0;
  let played = 0;
  return {
    nextFrame(frameSamples) {
      if (played >= repeat || samples.length === 0) return null;
      const frame = new Int16Array(frameSamples);
      let filled = 0;
      while (filled < frameSamples && played < repeat) {
        const take = Math.min(frameSamples - filled, samples.length - offset);
        frame.set(samples.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (offset === samples.length) {
          offset = 0;
          played += 1;
        }
      }
      return frame;
    },
  };
}
