import { readFileSync } from 'node:fs';
import { validateConfig } from '../../src/config/validate.js';

/**
 * The configuration a unit starts on: config/default.json as shipped, through the service's own
 * validateConfig. Tests take defaults from here, never from a copy of their own.
 */
export const SHIPPED_CONFIG = validateConfig(JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')));

/** The shipped `gpio` section (buttons BCM 5 and 6, LED 13, no relay, timings). */
export const DEFAULT_GPIO_CONFIG = SHIPPED_CONFIG.gpio;
