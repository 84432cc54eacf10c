import Type, { type Static } from 'typebox';

export const MQTT_CONNECTION_STATES = ['off', 'connecting', 'connected', 'reconnecting', 'error'] as const;
export type MqttConnectionState = (typeof MQTT_CONNECTION_STATES)[number];

/**
 * The MQTT part of GET /api/status and the panel. Never the password (nor the user name): only
 * where the unit connects, how that goes, and what it did with Home Assistant's commands.
 */
export const MqttStatusSchema = Type.Object(
  {
    configured: Type.Boolean({ description: 'mqtt.url is set' }),
    state: Type.Enum(
      [...MQTT_CONNECTION_STATES],
      {
        description:
          'off: not configured; connecting: first attempt; connected; reconnecting: the connection was lost or refused, the unit retries with backoff; error: cannot try at all (see lastError)',
      },
    ),
    broker: Type.Union([Type.String(), Type.Null()], { description: 'scheme, host and port of the broker (no credentials)' }),
    tls: Type.Boolean(),
    authenticated: Type.Boolean({ description: 'a user name (and password) is configured' }),
    topicPrefix: Type.Union([Type.String(), Type.Null()]),
    discoveryPrefix: Type.Union([Type.String(), Type.Null()]),
    connectedSince: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601, while connected' }),
    lastError: Type.Union([Type.String(), Type.Null()], { description: 'why the last connection failed or ended' }),
    connectionAttempts: Type.Integer(),
    connections: Type.Integer({ description: 'successful connections since the service started (more than one: it reconnected)' }),
    ringEvents: Type.Object({
      published: Type.Integer({ description: 'ring events the broker acknowledged' }),
      delayed: Type.Integer({ description: 'of those, sent after a reconnection (with their original time)' }),
      waiting: Type.Integer({ description: 'ring events kept while disconnected' }),
      dropped: Type.Integer({ description: 'ring events older than 60 s when the connection came back, not sent' }),
    }),
    commands: Type.Object({
      accepted: Type.Integer(),
      refused: Type.Integer(),
      refusedByReason: Type.Record(Type.String(), Type.Integer(), { description: 'e.g. bad-payload, oversized, retained, no-relay, door-outside-call, no-call, unknown-user' }),
    }),
  },
  { description: 'the MQTT connection to Home Assistant' },
);
export type MqttStatus = Static<typeof MqttStatusSchema>;

/** The status of a unit without MQTT (mqtt.url not set): nothing connects. */
export function unconfiguredMqttStatus(): MqttStatus {
  return {
    configured: false,
    state: 'off',
    broker: null,
    tls: false,
    authenticated: false,
    topicPrefix: null,
    discoveryPrefix: null,
    connectedSince: null,
    lastError: null,
    connectionAttempts: 0,
    connections: 0,
    ringEvents: { published: 0, delayed: 0, waiting: 0, dropped: 0 },
    commands: { accepted: 0, refused: 0, refusedByReason: {} },
  };
}
