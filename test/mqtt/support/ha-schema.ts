/**
 * Home Assistant's MQTT discovery schema for the entities a unit announces, encoded from Home
 * Assistant's own definitions (home-assistant/core, homeassistant/components/mqtt/: config.py
 * MQTT_BASE/RO/RW_SCHEMA, schemas.py MQTT_ENTITY_COMMON_SCHEMA, the device and origin schemas,
 * event.py, sensor.py, lock.py, button.py, switch.py) and the MQTT integration's documentation
 * pages (event.mqtt, sensor.mqtt, lock.mqtt, button.mqtt, switch.mqtt, "MQTT discovery").
 * Discovery drops unknown keys silently (vol.REMOVE_EXTRA), so a misspelt key would simply be
 * ignored by Home Assistant: here every key must be one it knows.
 */

type Check = (value: unknown) => string | null;

const string: Check = (value) => (typeof value === 'string' ? null : 'must be a string');
const boolean: Check = (value) => (typeof value === 'boolean' ? null : 'must be a boolean');
const positiveInt: Check = (value) => (Number.isInteger(value) && (value as number) >= 0 ? null : 'must be a non-negative integer');
const qos: Check = (value) => ([0, 1, 2].includes(value as number) ? null : 'must be 0, 1 or 2');
const oneOf =
  (...choices: string[]): Check =>
  (value) =>
    choices.includes(value as string) ? null : `must be one of ${choices.join(', ')}`;
const stringList: Check = (value) => (Array.isArray(value) && value.every((item) => typeof item === 'string') ? null : 'must be a list of strings');
const template: Check = (value) => (typeof value === 'string' && value.includes('{{') ? null : 'must be a template ({{ ... }})');
const url: Check = (value) => {
  try {
    return ['http:', 'https:', 'homeassistant:'].includes(new URL(value as string).protocol) ? null : 'must be an http(s) URL';
  } catch {
    return 'must be a URL';
  }
};

/** util.py valid_publish_topic: no wildcards, no NUL, not empty, at most 65535 bytes of UTF-8. */
export const publishTopic: Check = (value) => {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty topic';
  if (/[+#\u0000]/.test(value)) return 'must not hold wildcards or NUL';
  if (Buffer.byteLength(value) > 65535) return 'is too long';
  return null;
};
/** valid_subscribe_topic: wildcards only as whole levels. */
export const subscribeTopic: Check = (value) => {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty topic';
  const levels = value.split('/');
  if (levels.some((level, index) => (level.includes('#') && (level !== '#' || index !== levels.length - 1)) || (level.includes('+') && level !== '+'))) {
    return 'has a misplaced wildcard';
  }
  return null;
};

const DEVICE_KEYS: Record<string, Check> = {
  identifiers: stringList,
  connections: (value) => (Array.isArray(value) && value.every((pair) => Array.isArray(pair) && pair.length === 2) ? null : 'must be a list of pairs'),
  manufacturer: string,
  model: string,
  model_id: string,
  name: string,
  hw_version: string,
  serial_number: string,
  sw_version: string,
  via_device: string,
  suggested_area: string,
  configuration_url: url,
};
const ORIGIN_KEYS: Record<string, Check> = { name: string, sw_version: string, support_url: url };

function objectChecker(keys: Record<string, Check>, required: string[], extra?: (value: Record<string, unknown>) => string | null): Check {
  return (value) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return 'must be an object';
    const object = value as Record<string, unknown>;
    for (const key of required) if (!(key in object)) return `lacks ${key}`;
    for (const [key, item] of Object.entries(object)) {
      const check = keys[key];
      if (!check) return `has ${key}, which Home Assistant does not know here`;
      const problem = check(item);
      if (problem) return `${key} ${problem}`;
    }
    return extra?.(object) ?? null;
  };
}

/** MQTT_BASE_SCHEMA + MQTT_ENTITY_COMMON_SCHEMA (availability, device, origin, ...). */
const COMMON: Record<string, Check> = {
  qos,
  encoding: string,
  availability: (value) => (Array.isArray(value) ? null : 'must be a list'),
  availability_mode: oneOf('all', 'any', 'latest'),
  availability_template: template,
  availability_topic: subscribeTopic,
  payload_available: string,
  payload_not_available: string,
  device: objectChecker(DEVICE_KEYS, [], (device) =>
    (Array.isArray(device.identifiers) && device.identifiers.length > 0) || (Array.isArray(device.connections) && device.connections.length > 0)
      ? null
      : 'must have identifiers or connections',
  ),
  origin: objectChecker(ORIGIN_KEYS, ['name']),
  enabled_by_default: boolean,
  entity_category: oneOf('config', 'diagnostic'),
  entity_picture: url,
  icon: (value) => (typeof value === 'string' && /^[a-z0-9-]+:[a-z0-9-]+$/.test(value) ? null : 'must be an icon such as mdi:phone'),
  json_attributes_topic: subscribeTopic,
  json_attributes_template: template,
  object_id: string,
  default_entity_id: string,
  unique_id: string,
  name: (value) => (value === null || typeof value === 'string' ? null : 'must be a string or null'),
};

/** Units Home Assistant accepts for the sensor device classes a unit uses (sensor/const.py DEVICE_CLASS_UNITS). */
const SENSOR_UNITS: Record<string, string[]> = {
  temperature: ['°C', '°F', 'K'],
  duration: ['d', 'h', 'min', 's', 'ms', 'µs'],
};

interface ComponentSchema {
  required: string[];
  keys: Record<string, Check>;
  rule?: (config: Record<string, unknown>) => string | null;
}

export const COMPONENT_SCHEMAS: Record<string, ComponentSchema> = {
  // event.py: MQTT_RO_SCHEMA + device_class, event_types (required).
  event: {
    required: ['state_topic', 'event_types'],
    keys: { state_topic: subscribeTopic, value_template: template, device_class: oneOf('button', 'doorbell', 'motion'), event_types: stringList },
    // A doorbell event entity must offer the standard `ring` type (its triggers listen for it).
    rule: (config) => (config.device_class === 'doorbell' && !(config.event_types as string[]).includes('ring') ? 'a doorbell must have the event type ring' : null),
  },
  // sensor.py: MQTT_RO_SCHEMA + the sensor options; `options` only with device class enum, and
  // then without state_class and unit; a device class with units only with one of its units.
  sensor: {
    required: ['state_topic'],
    keys: {
      state_topic: subscribeTopic,
      value_template: template,
      device_class: (value) => (value === null || typeof value === 'string' ? null : 'must be a device class'),
      expire_after: positiveInt,
      force_update: boolean,
      last_reset_value_template: template,
      options: stringList,
      suggested_display_precision: positiveInt,
      state_class: oneOf('measurement', 'measurement_angle', 'total', 'total_increasing'),
      unit_of_measurement: (value) => (value === null || typeof value === 'string' ? null : 'must be a string'),
    },
    rule: (config) => {
      if (config.options !== undefined) {
        if ((config.options as string[]).length === 0) return 'an empty options list is not allowed';
        if (config.state_class || config.unit_of_measurement) return 'options are not allowed with state_class or unit_of_measurement';
        if (config.device_class !== 'enum') return 'options need device class enum';
      }
      const units = SENSOR_UNITS[config.device_class as string];
      if (units && !units.includes(config.unit_of_measurement as string)) return `device class ${config.device_class} needs a unit among ${units.join(' ')}`;
      return null;
    },
  },
  // lock.py: MQTT_RW_SCHEMA (command_topic required) + payloads and states.
  lock: {
    required: ['command_topic'],
    keys: {
      command_topic: publishTopic,
      state_topic: subscribeTopic,
      optimistic: boolean,
      retain: boolean,
      code_format: string,
      command_template: template,
      payload_lock: string,
      payload_unlock: string,
      payload_open: string,
      payload_reset: string,
      state_jammed: string,
      state_locked: string,
      state_locking: string,
      state_open: string,
      state_opening: string,
      state_unlocked: string,
      state_unlocking: string,
      value_template: template,
    },
  },
  // button.py: MQTT_BASE_SCHEMA + command_topic (required), payload_press, device class.
  button: {
    required: ['command_topic'],
    keys: { command_topic: publishTopic, command_template: template, device_class: oneOf('identify', 'restart', 'update'), payload_press: string, retain: boolean },
  },
  // switch.py: MQTT_RW_SCHEMA + payloads and states.
  switch: {
    required: ['command_topic'],
    keys: {
      command_topic: publishTopic,
      state_topic: subscribeTopic,
      optimistic: boolean,
      retain: boolean,
      command_template: template,
      payload_on: string,
      payload_off: string,
      state_on: string,
      state_off: string,
      value_template: template,
      device_class: oneOf('outlet', 'switch'),
    },
  },
};

/** The discovery topic: <prefix>/<component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-]. */
export const DISCOVERY_TOPIC = /^(?<prefix>.+)\/(?<component>[a-z_]+)\/(?:(?<node>[a-zA-Z0-9_-]+)\/)?(?<object>[a-zA-Z0-9_-]+)\/config$/;

/** Every problem Home Assistant would have with one discovery message (none: an empty list). */
export function discoveryProblems(topic: string, payload: string): string[] {
  const match = DISCOVERY_TOPIC.exec(topic);
  if (!match?.groups) return [`${topic} is not a discovery topic`];
  const schema = COMPONENT_SCHEMAS[match.groups.component];
  if (!schema) return [`${topic}: component ${match.groups.component} is not one checked here`];
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(payload);
  } catch {
    return [`${topic}: payload is not JSON`];
  }
  const problems: string[] = [];
  for (const key of schema.required) if (!(key in config)) problems.push(`${topic}: lacks the required ${key}`);
  for (const [key, value] of Object.entries(config)) {
    const check = schema.keys[key] ?? COMMON[key];
    if (!check) {
      problems.push(`${topic}: ${key} is not a key of ${match.groups.component}`);
      continue;
    }
    const problem = check(value);
    if (problem) problems.push(`${topic}: ${key} ${problem}`);
  }
  if ('availability_topic' in config && 'availability' in config) problems.push(`${topic}: availability_topic and availability exclude each other`);
  const rule = schema.rule?.(config);
  if (rule) problems.push(`${topic}: ${rule}`);
  return problems;
}
