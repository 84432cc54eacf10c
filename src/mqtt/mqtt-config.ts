import Type, { type Static } from 'typebox';

/** Topic prefixes: levels without wildcards, spaces or empty levels ("home/intercom", not "/home/"). */
const TOPIC_PREFIX_PATTERN = '^[^/#+\\s]+(/[^/#+\\s]+)*$';

/**
 * The `mqtt` section of the configuration: the Home Assistant connection, off until `url` is set.
 * Credentials live in their own keys so the URL can be logged and shown (it never carries them).
 */
export const MqttConfigSchema = Type.Object(
  {
    url: Type.Union(
      [
        Type.String({
          pattern: '^mqtts?://(\\[[0-9A-Fa-f:.]+\\]|[^\\s/@:\\[\\]]+)(:[0-9]{1,5})?/?$',
          description: 'mqtt://host[:port] or mqtts://host[:port] (TLS); user and password go in mqtt.username and mqtt.password, not here',
        }),
        Type.Null(),
      ],
      { description: 'the MQTT broker (e.g. mqtt://homeassistant.local:1883), or null for no MQTT at all' },
    ),
    username: Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()], { description: 'user name at the broker, or null' }),
    password: Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()], { description: 'password at the broker (never logged or shown), or null' }),
    topicPrefix: Type.Union([Type.String({ maxLength: 100, pattern: TOPIC_PREFIX_PATTERN }), Type.Null()], {
      description: "where this unit's state and command topics live, or null for intercom/<unit id>",
    }),
    discoveryPrefix: Type.String({ maxLength: 100, pattern: TOPIC_PREFIX_PATTERN, description: "Home Assistant's discovery prefix (its default: homeassistant)" }),
    caFile: Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), Type.Null()], {
      description: 'PEM file of the CA that signed the broker certificate (mqtts:// with a private CA), or null for the system CAs',
    }),
    allowDoorOpen: Type.Boolean({ description: 'Home Assistant may open the door outside a call too (from a dashboard); false: only during a call' }),
  },
  { additionalProperties: false },
);

export type MqttConfig = Static<typeof MqttConfigSchema>;

/** What is wrong with the MQTT settings that the schema cannot say, as [config key, problem], or null. */
export function mqttConfigProblem(config: MqttConfig): [key: string, problem: string] | null {
  if (config.password !== null && config.username === null) return ['mqtt.password', 'is set without mqtt.username (MQTT sends a password only with a user name)'];
  if (config.caFile !== null && config.url !== null && !config.url.startsWith('mqtts://')) {
    return ['mqtt.caFile', `is set but mqtt.url is not an mqtts:// URL: the CA file is only used for TLS`];
  }
  return null;
}

/** The broker's URL as it may be logged and shown: scheme, host and port (the default port filled in). */
export function brokerLabel(url: string): string {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'mqtts:';
  return `${parsed.protocol}//${parsed.hostname}:${parsed.port || (tls ? 8883 : 1883)}`;
}

/** The topic prefix in use: the configured one, else intercom/<unit id> (stable when the unit is renamed). */
export function topicPrefixOf(config: MqttConfig, unitId: string): string {
  return config.topicPrefix ?? `intercom/${unitId}`;
}
