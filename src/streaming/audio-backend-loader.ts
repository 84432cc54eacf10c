import type { AudioBackend } from '../audio/audio-backend.js';
import type { Logger } from '../logging/logger.js';

/** Which sound-device layer to use: the project's ALSA engine, naudiodon (portable), or the first that loads. */
export const AUDIO_BACKENDS = ['auto', 'alsa', 'naudiodon'] as const;
export type AudioBackendChoice = (typeof AUDIO_BACKENDS)[number];

/**
 * Loads the sound-device layer only when a sound device is actually wanted, so commands that
 * never touch a device (send a tone, recv to a WAV file) load neither.
 *
 * `auto` prefers the ALSA engine (src/audio/alsa-engine: one duplex engine on real-time threads
 * in this process; see docs/ARCHITECTURE.md for the measurements that chose it) and falls back
 * to naudiodon where the engine is not built (a laptop, another OS).
 */
export async function openAudioBackend(logger: Logger, choice: AudioBackendChoice = 'auto'): Promise<AudioBackend> {
  if (choice !== 'naudiodon') {
    try {
      const { AlsaEngineBackend } = await import('../audio/alsa-engine-backend.js');
      return new AlsaEngineBackend({ logger });
    } catch (error) {
      if (choice === 'alsa') throw error;
      logger.warn({ err: error }, 'the ALSA engine is not available; using naudiodon');
    }
  }
  const { NaudiodonBackend } = await import('../audio/naudiodon-backend.js');
  return new NaudiodonBackend({ logger });
}
