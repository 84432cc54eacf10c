import { schemaErrors } from '../system/schema-check.js';
import { ConfigSchema, wireFormatFrameProblem, type IntercomConfig } from './schema.js';
import { gpioConfigProblem } from '../gpio/gpio-config.js';
import { mqttConfigProblem } from '../mqtt/mqtt-config.js';

/** A configuration value that is wrong; `key` is the dotted config key, e.g. "audio.udpPort". */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`config key "${key}" ${problem}`);
    this.name = 'ConfigError';
  }
}

function dotted(instancePath: string): string {
  return instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
}

function describeSchemaAt(path: string): string {
  // Walks the schema so the message can say what *would* be accepted.
  let node: any = ConfigSchema;
  for (const part of path.split('.')) node = childSchema(node, part);
  if (!node) return '';
  const choices = node.anyOf?.map((option: any) => JSON.stringify(option.const)).filter(Boolean);
  if (choices?.length) return `one of ${choices.join(', ')}`;
  const bits: string[] = [];
  if (node.type) bits.push(`${/^[aeiou]/.test(node.type) ? 'an' : 'a'} ${node.type}`);
  if (node.minimum !== undefined && node.maximum !== undefined) bits.push(`from ${node.minimum} to ${node.maximum}`);
  if (node.minLength) bits.push('non-empty');
  if (node.pattern && node.description) bits.push(`(${node.description})`);
  return bits.join(' ');
}

/** The schema of `part` inside `node`: a property, an array item, a record's value, or either inside an optional (`X | null`) setting. */
function childSchema(node: any, part: string): any {
  if (!node) return undefined;
  const own = node.properties?.[part] ?? (/^\d+$/.test(part) ? node.items : undefined) ?? (node.patternProperties ? Object.values(node.patternProperties)[0] : undefined);
  if (own) return own;
  for (const option of node.anyOf ?? []) {
    const found = childSchema(option, part);
    if (found) return found;
  }
  return undefined;
}

/** Keys whose values never appear in an error message (it goes to the log). */
const SECRET_KEYS = new Set(['site.secret', 'mqtt.password']);

function shownValue(key: string, value: unknown): string {
  if (SECRET_KEYS.has(key) && typeof value === 'string') return `a hidden string of ${value.length} characters`;
  // A secret written as a number (a PIN-like password without quotes) is not shown either.
  if (SECRET_KEYS.has(key) && value !== null && value !== undefined) return `a hidden ${typeof value}`;
  return JSON.stringify(value);
}

function valueAt(raw: unknown, path: string): unknown {
  let node: any = raw;
  for (const part of path.split('.')) node = node?.[part];
  return node;
}

/**
 * Checks a merged configuration object and returns it typed and frozen, or throws a ConfigError
 * naming the first wrong key and what it expects.
 */
export function validateConfig(raw: unknown): IntercomConfig {
  const plain = JSON.parse(JSON.stringify(raw ?? {}));
  const ringTone = plain?.audio?.ringTone;
  if (ringTone !== undefined && ringTone !== null && (typeof ringTone !== 'string' || !ringTone.startsWith('/') || ringTone.length < 2)) {
    // The schema's own words ("must match pattern") would not tell an installer what to write.
    throw new ConfigError('audio.ringTone', `is ${JSON.stringify(ringTone)}; expected the absolute path of a WAV file (e.g. "/etc/intercom/ring.wav"), or null for the built-in chime`);
  }
  const errors = schemaErrors(ConfigSchema, plain);
  if (errors.length > 0) {
    const unknown = errors.find((error) => error.keyword === 'additionalProperties');
    if (unknown) {
      const name = (unknown.params as { additionalProperty?: string }).additionalProperty ?? '';
      const key = [dotted(unknown.instancePath), name].filter((part) => part && part !== '(root)').join('.');
      throw new ConfigError(key, 'is not a known setting (check its spelling)');
    }
    const first = errors.find((error) => error.keyword !== 'const') ?? errors[0];
    const key = dotted(first.instancePath);
    const missing = first.keyword === 'required';
    if (missing) {
      const name = (first.params as { missingProperty?: string }).missingProperty ?? '';
      const fullKey = [key, name].filter((part) => part && part !== '(root)').join('.');
      throw new ConfigError(fullKey, `is missing; expected ${describeSchemaAt(fullKey) || 'a value'}`);
    }
    const expected = describeSchemaAt(key);
    const shown = shownValue(key, valueAt(plain, key));
    // Ajv shouts its negations ("must NOT have fewer than 16 characters"); an installer reads this in a log.
    throw new ConfigError(key, expected ? `is ${shown}; expected ${expected}` : `is ${shown}: it ${first.message?.replaceAll('NOT', 'not')}`);
  }
  if (plain.jitter.minMs > plain.jitter.maxMs) {
    throw new ConfigError('jitter.minMs', `(${plain.jitter.minMs}) must not exceed jitter.maxMs (${plain.jitter.maxMs})`);
  }
  const frameProblem = wireFormatFrameProblem(plain.audio.format, plain.audio.frameMs);
  if (frameProblem) throw new ConfigError('audio.frameMs', `is ${plain.audio.frameMs} with audio.format "${plain.audio.format}": ${frameProblem}`);
  const gpioProblem = gpioConfigProblem(plain.gpio);
  if (gpioProblem) throw new ConfigError(gpioProblem.key, gpioProblem.problem);
  const mqttProblem = mqttConfigProblem(plain.mqtt);
  if (mqttProblem) throw new ConfigError(...mqttProblem);
  return deepFreeze(plain as IntercomConfig);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
