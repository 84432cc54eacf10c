import { byId, setText } from './dom.js';
import { formatBytes, formatDuration, formatPercent } from './format.js';

/**
 * "This unit": figures from /api/status, which the panel polls (they change slowly), and the
 * buttons and LED, which the event stream reports the moment they change.
 */

/** The front panel's GPIO as last reported: by the event stream, or else by the status poll. */
export function currentGpio(state) {
  return state.gpio ?? state.status?.gpio ?? null;
}

function describeGpio(gpio) {
  if (!gpio.available) return gpio.enabled ? `not available: ${gpio.reason}` : `not in use (${gpio.reason})`;
  const pressed = Object.entries(gpio.buttons)
    .filter(([, down]) => down)
    .map(([name]) => name.toUpperCase());
  const parts = [gpio.board, `LED ${gpio.led}`, pressed.length ? `pressed: ${pressed.join(', ')}` : 'buttons up'];
  if (gpio.doorRelay) parts.push(gpio.doorRelay.energised ? 'door relay open' : 'door relay closed');
  // A wiring problem the unit noticed (e.g. a button that reads pressed since start: wrong pull-up).
  for (const warning of gpio.warnings ?? []) parts.push(`warning: ${warning.message}`);
  return parts.join(' · ');
}

function describeAudio(audio) {
  // Plain RTP is only ever used when configured; say so plainly, since anyone on the LAN could listen.
  const privacy = audio.encrypted === false ? ' · NOT ENCRYPTED (audio.srtp is off)' : audio.encrypted ? ' · encrypted (SRTP)' : '';
  if (audio.available) {
    const devices = [audio.captureDevice && `microphone ${audio.captureDevice}`, audio.playbackDevice && `speaker ${audio.playbackDevice}`].filter(Boolean);
    return (devices.length ? devices.join(' · ') : 'microphone and speaker open') + privacy;
  }
  return `no sound device: calls carry silence${audio.error ? ` (${audio.error})` : ''}${privacy}`;
}

/** The MQTT connection to Home Assistant, in words (never the password: the status has none). */
export function describeMqtt(mqtt) {
  if (!mqtt || !mqtt.configured) return { text: 'not configured (mqtt.url)', ok: true };
  const refused = mqtt.commands.refused > 0 ? ` · ${mqtt.commands.refused} command${mqtt.commands.refused === 1 ? '' : 's'} refused` : '';
  const waiting = mqtt.ringEvents.waiting > 0 ? ` · ${mqtt.ringEvents.waiting} ring${mqtt.ringEvents.waiting === 1 ? '' : 's'} waiting to be sent` : '';
  switch (mqtt.state) {
    case 'connected':
      return { text: `connected to ${mqtt.broker}${mqtt.tls ? ' (TLS)' : ''}${refused}`, ok: true };
    case 'connecting':
      return { text: `connecting to ${mqtt.broker}…`, ok: true };
    case 'reconnecting':
      return { text: `not connected to ${mqtt.broker}, retrying${mqtt.lastError ? `: ${mqtt.lastError}` : ''}${waiting}${refused}`, ok: false };
    case 'error':
      return { text: `off: ${mqtt.lastError ?? 'cannot connect'}`, ok: false };
    default:
      return { text: 'off', ok: true };
  }
}

export class UnitView {
  render(state) {
    const status = state.status;
    const name = status?.unit.name ?? state.unit?.name;
    if (name) {
      setText(byId('unit-title'), name);
      setText(byId('unit-name'), name);
      document.title = `${name} · Intercom`;
    }
    setText(byId('unit-address'), location.host);
    const version = status?.unit.version ?? state.unit?.version;
    if (version) setText(byId('unit-version'), version);
    if (!status) return;

    const system = status.system;
    const load = system.loadAverage.length ? ` (load ${system.loadAverage.map((value) => value.toFixed(2)).join(' ')})` : '';
    setText(byId('unit-cpu'), `${formatPercent(system.cpuLoadPercent, 0)}${load}`);
    setText(byId('unit-temperature'), system.temperatureC === null ? 'not reported by this machine' : `${system.temperatureC.toFixed(1)} °C`);
    setText(
      byId('unit-memory'),
      system.memory ? `${formatPercent(system.memory.usedPercent, 0)} of ${formatBytes(system.memory.totalBytes)} in use` : '–',
    );
    // A door station that answers by itself says so: whoever reads the panel knows the line opens alone.
    setText(byId('unit-auto-answer'), status.autoAnswer ? `on: calls are answered after ${(status.autoAnswer.delayMs / 1000).toFixed(1)} s, with a tone first` : 'off');
    const audio = byId('unit-audio');
    setText(audio, describeAudio(status.audio));
    audio.dataset.state = status.audio.available && status.audio.encrypted !== false ? 'ok' : 'warn';

    this.renderGpio(state);
    const mqtt = describeMqtt(status.mqtt);
    const mqttElement = byId('unit-mqtt');
    setText(mqttElement, mqtt.text);
    mqttElement.dataset.state = mqtt.ok ? 'ok' : 'warn';
    mqttElement.dataset.mqtt = status.mqtt?.state ?? 'off';
    this.tick(state);
  }

  renderGpio(state) {
    const gpio = currentGpio(state);
    byId('unit-gpio-row').hidden = !gpio;
    if (!gpio) return;
    const element = byId('unit-gpio');
    setText(element, describeGpio(gpio));
    element.dataset.state = gpio.available && !(gpio.warnings?.length > 0) ? 'ok' : 'warn';
  }

  /** Once a second: uptime counted on from the last status. */
  tick(state) {
    if (!state.status) return;
    setText(byId('unit-uptime'), formatDuration(state.status.uptimeS + (performance.now() - state.statusReceivedAt) / 1000));
  }
}
