import test from 'ava';
import { readFileSync } from 'node:fs';
import { ConfigError, validateConfig } from '../../src/config/validate.js';

// The paging keys: shipped on (multicast with unicast fallback), and every wrong value refused
// with a message naming the key.

const SHIPPED = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<string, any>;

function refused(edit: (config: Record<string, any>) => void): string {
  const config = structuredClone(SHIPPED);
  edit(config);
  try {
    validateConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a refusal');
}

test('units ship paging over multicast on 239.255.43.21:40002 with a 500 ms report window, and no PAGE button', (t) => {
  const config = validateConfig(SHIPPED);
  t.deepEqual(config.paging, { multicast: true, multicastAddress: '239.255.43.21', port: 40002, multicastAckMs: 500 });
  t.is(config.gpio.pageButton, null);
});

test('a group address that is not IPv4 multicast, a bad port or report window, an unknown key, a bad PAGE button: refused by name', (t) => {
  t.regex(refused((config) => (config.paging.multicastAddress = '10.0.0.1')), /paging\.multicastAddress/);
  t.regex(refused((config) => (config.paging.multicastAddress = '240.0.0.1')), /paging\.multicastAddress/);
  t.regex(refused((config) => (config.paging.port = 0)), /paging\.port/);
  t.regex(refused((config) => (config.paging.multicastAckMs = 50)), /paging\.multicastAckMs/);
  t.regex(refused((config) => (config.paging.multicst = false)), /paging/);
  t.regex(refused((config) => (config.gpio.pageButton = { pin: 17 })), /gpio\.pageButton/);
  t.regex(refused((config) => (config.gpio.pageButton = { pin: 17, group: 'All flats', priority: 'urgent' })), /gpio\.pageButton/);
  const ok = structuredClone(SHIPPED);
  ok.gpio.pageButton = { pin: 17, group: 'All flats', priority: 'emergency' };
  t.like(validateConfig(ok).gpio.pageButton, { pin: 17, group: 'All flats' });
});
