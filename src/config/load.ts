import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { validateConfig } from './validate.js';
import type { IntercomConfig } from './schema.js';

/** The config/ directory shipped with the package. */
export const SHIPPED_CONFIG_DIR = fileURLToPath(new URL('../../config', import.meta.url));
/** Per-device overrides live here on a unit; files in it win over the shipped defaults. */
export const DEVICE_CONFIG_DIR = '/etc/intercom';

/**
 * Loads configuration through node-config: shipped defaults, then /etc/intercom (or whatever
 * NODE_CONFIG_DIR says), then local.json and NODE_CONFIG, and validates the result.
 */
export async function loadConfig(): Promise<IntercomConfig> {
  // node-config reads these once, when it is first imported, so they are set before the import.
  process.env.NODE_CONFIG_DIR ??= [SHIPPED_CONFIG_DIR, DEVICE_CONFIG_DIR].join(path.delimiter);
  process.env.SUPPRESS_NO_CONFIG_WARNING ??= 'y';
  const { default: config } = await import('config');
  return validateConfig(config.util.toObject());
}
