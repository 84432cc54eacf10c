import { openAudioBackend, type AudioBackendChoice } from '../streaming/audio-backend-loader.js';
import type { Logger } from '../logging/logger.js';

/** `intercom devices`: lists capture and playback devices, with names usable in --mic/--device. */
export async function runDevices(options: { json: boolean; backend?: AudioBackendChoice }, logger: Logger): Promise<void> {
  const backend = await openAudioBackend(logger, options.backend);
  try {
    const devices = await backend.listDevices();
    if (options.json) {
      process.stdout.write(`${JSON.stringify(devices)}\n`);
      return;
    }
    if (devices.length === 0) {
      process.stdout.write('no audio devices found\n');
      return;
    }
    for (const device of devices) {
      const directions = [device.maxInputChannels > 0 ? 'capture' : '', device.maxOutputChannels > 0 ? 'playback' : '']
        .filter(Boolean)
        .join('+');
      process.stdout.write(`${String(device.id).padStart(3)}  ${directions.padEnd(16)}  ${device.name}\n`);
    }
  } finally {
    await backend.close();
  }
}
