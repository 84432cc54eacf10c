import type { AudioBackend } from '../audio/audio-backend.js';
import type { Logger } from '../logging/logger.js';

/**
 * Loads the naudiodon backend only when a sound device is actually wanted, so commands that
 * never touch a device (send a tone, recv to a WAV file) do not start PortAudio at all.
 */
export async function openAudioBackend(logger: Logger): Promise<AudioBackend> {
  const { NaudiodonBackend } = await import('../audio/naudiodon-backend.js');
  return new NaudiodonBackend({ logger });
}
