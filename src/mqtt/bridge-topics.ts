/**
 * Where a unit's Home Assistant entities live on the broker, under its topic prefix P:
 *
 *   P/availability            online | offline (retained; offline is also the last will)
 *   P/doorbell                ring events, JSON, never retained (Home Assistant ignores replayed events)
 *   P/call/state              idle | ringing | active (retained), P/call/attributes: JSON (retained)
 *   P/call/start, P/call/hang_up            buttons: PRESS
 *   P/last_call               the last call's audio figures, JSON (retained)
 *   P/door/state              LOCKED | OPEN (retained), P/door/set: OPEN | UNLOCK | LOCK, P/door/open: PRESS
 *   P/do_not_disturb/state    ON | OFF (retained), P/do_not_disturb/set: ON | OFF
 *   P/cpu_temperature         °C, or None where the machine reports none (retained)
 */
export interface BridgeTopics {
  availability: string;
  doorbell: string;
  callState: string;
  callAttributes: string;
  callStart: string;
  hangUp: string;
  lastCall: string;
  doorState: string;
  doorSet: string;
  doorOpen: string;
  dndState: string;
  dndSet: string;
  cpuTemperature: string;
}

export function bridgeTopics(prefix: string): BridgeTopics {
  return {
    availability: `${prefix}/availability`,
    doorbell: `${prefix}/doorbell`,
    callState: `${prefix}/call/state`,
    callAttributes: `${prefix}/call/attributes`,
    callStart: `${prefix}/call/start`,
    hangUp: `${prefix}/call/hang_up`,
    lastCall: `${prefix}/last_call`,
    doorState: `${prefix}/door/state`,
    doorSet: `${prefix}/door/set`,
    doorOpen: `${prefix}/door/open`,
    dndState: `${prefix}/do_not_disturb/state`,
    dndSet: `${prefix}/do_not_disturb/set`,
    cpuTemperature: `${prefix}/cpu_temperature`,
  };
}

/** The topics Home Assistant sends commands on (what the unit subscribes to, besides the birth topic). */
export function commandTopics(topics: BridgeTopics): string[] {
  return [topics.callStart, topics.hangUp, topics.doorSet, topics.doorOpen, topics.dndSet];
}
