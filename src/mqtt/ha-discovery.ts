import type { BridgeTopics } from './bridge-topics.js';

/**
 * Home Assistant MQTT discovery for one unit: one device (the unit) with its entities, each
 * announced on `<discoveryPrefix>/<component>/<node id>/<object id>/config` (retained), as Home
 * Assistant's MQTT integration documents it. Keys are spelled out (no abbreviations) so the
 * messages read as the documentation does. A message with an empty payload removes an entity
 * (the door's, when no relay is wired any more).
 */

export interface DiscoveryUnit {
  unitId: string;
  unitName: string;
  version: string;
  /** The panel's address, Home Assistant's link to the device ("Visit"). */
  panelUrl: string;
}

export interface DiscoveryOptions {
  unit: DiscoveryUnit;
  discoveryPrefix: string;
  topics: BridgeTopics;
  /** A door relay is wired (gpio.doorRelay) and GPIO runs: announce the lock and the open button. */
  doorRelay: boolean;
  /** Who the call button calls (gpio.callTarget). */
  callTarget: string;
}

export interface DiscoveryMessage {
  component: 'event' | 'sensor' | 'lock' | 'button' | 'switch';
  objectId: string;
  topic: string;
  /** The entity's configuration; null removes the entity. */
  config: Record<string, unknown> | null;
}

/** The call state sensor's values, in the order a call goes through them. */
export const CALL_STATES = ['idle', 'ringing', 'active'] as const;

/** Home Assistant's node id: letters, digits, _ and - only. */
export function nodeIdOf(unitId: string): string {
  return `intercom-${unitId}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function discoveryMessages(options: DiscoveryOptions): DiscoveryMessage[] {
  const { unit, topics } = options;
  const nodeId = nodeIdOf(unit.unitId);
  const common = {
    availability_topic: topics.availability,
    payload_available: 'online',
    payload_not_available: 'offline',
    device: {
      identifiers: [`pi-intercom-${unit.unitId}`],
      name: unit.unitName,
      manufacturer: 'pi-intercom',
      model: 'pi-intercom unit',
      sw_version: unit.version,
      configuration_url: unit.panelUrl,
    },
    origin: { name: 'pi-intercom', sw_version: unit.version },
  };
  const entity = (component: DiscoveryMessage['component'], objectId: string, config: Record<string, unknown> | null): DiscoveryMessage => ({
    component,
    objectId,
    topic: `${options.discoveryPrefix}/${component}/${nodeId}/${objectId}/config`,
    config: config && { ...config, unique_id: `${nodeId}-${objectId}`, ...common },
  });
  const lastCallFigure = (objectId: string, name: string, field: string, unit: string, deviceClass?: string) =>
    entity('sensor', objectId, {
      name,
      state_topic: topics.lastCall,
      value_template: `{{ value_json.${field} }}`,
      unit_of_measurement: unit,
      ...(deviceClass ? { device_class: deviceClass } : {}),
      state_class: 'measurement',
      entity_category: 'diagnostic',
      icon: 'mdi:waveform',
    });

  return [
    entity('event', 'doorbell', {
      name: 'Doorbell',
      state_topic: topics.doorbell,
      event_types: ['ring'],
      device_class: 'doorbell',
      qos: 1,
    }),
    entity('sensor', 'call_state', {
      name: 'Call',
      state_topic: topics.callState,
      device_class: 'enum',
      options: [...CALL_STATES],
      json_attributes_topic: topics.callAttributes,
      icon: 'mdi:phone-classic',
    }),
    entity('button', 'call', {
      name: `Call ${options.callTarget}`,
      command_topic: topics.callStart,
      payload_press: 'PRESS',
      qos: 1,
      icon: 'mdi:phone-outgoing',
    }),
    entity('button', 'hang_up', {
      name: 'Hang up',
      command_topic: topics.hangUp,
      payload_press: 'PRESS',
      qos: 1,
      icon: 'mdi:phone-hangup',
    }),
    entity('switch', 'do_not_disturb', {
      name: 'Do not disturb',
      state_topic: topics.dndState,
      command_topic: topics.dndSet,
      payload_on: 'ON',
      payload_off: 'OFF',
      qos: 1,
      icon: 'mdi:bell-off',
    }),
    entity(
      'lock',
      'door',
      options.doorRelay
        ? {
            name: 'Door',
            state_topic: topics.doorState,
            command_topic: topics.doorSet,
            payload_lock: 'LOCK',
            payload_unlock: 'UNLOCK',
            payload_open: 'OPEN',
            state_locked: 'LOCKED',
            state_open: 'OPEN',
            qos: 1,
          }
        : null,
    ),
    entity(
      'button',
      'open_door',
      options.doorRelay ? { name: 'Open door', command_topic: topics.doorOpen, payload_press: 'PRESS', qos: 1, icon: 'mdi:door-open' } : null,
    ),
    entity('sensor', 'cpu_temperature', {
      name: 'CPU temperature',
      state_topic: topics.cpuTemperature,
      device_class: 'temperature',
      unit_of_measurement: '°C',
      state_class: 'measurement',
      suggested_display_precision: 1,
      entity_category: 'diagnostic',
    }),
    lastCallFigure('last_call_loss', 'Last call packet loss', 'loss_percent', '%'),
    lastCallFigure('last_call_jitter', 'Last call jitter', 'jitter_ms', 'ms', 'duration'),
    lastCallFigure('last_call_delay', 'Last call delay', 'delay_ms', 'ms', 'duration'),
    lastCallFigure('last_call_concealed', 'Last call concealed audio', 'concealed_ms', 'ms', 'duration'),
  ];
}
