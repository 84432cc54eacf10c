import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import { systemClock, type Clock } from '../system/clock.js';
import { Button } from './button.js';
import { CallButtons, type CallControl, type MuteControl } from './call-buttons.js';
import { chipLabelsFor, GpioMappingError, mapPins, type PinMap } from './chip-map.js';
import { DoorRelay } from './door-relay.js';
import { gpioPinProblem, gpioPins, type GpioConfig } from './gpio-config.js';
import type { GpioStatus, GpioWarning } from './gpio-status.js';
import { DEFAULT_BLINK_PERIOD_MS, Led, type LedMode } from './led.js';
import { ONOFF_SYSFS_ROOT, type OnoffPortsResult } from './onoff-ports.js';
import type { GpioPortOpener, InputPort, OutputPort } from './ports.js';
import { nameAsUser, type CallTargetResolver } from './call-targets.js';
import { DoorPanel, type DoorPanelPorts } from './door-panel.js';
import { IndicatorLed } from './indicator-led.js';
import { TargetCaller } from './target-caller.js';

export interface GpioServiceOptions {
  config: GpioConfig;
  calls: CallControl;
  logger: Logger;
  clock?: Clock;
  /** Where sysfs is mounted; tests point it at a fake tree. Must be /sys with the real (onoff) ports. */
  sysfsRoot?: string;
  /** Labels of the chip that carries the pins; default: the Raspberry Pi header chips. */
  chipLabels?: readonly string[];
  /** Provides the pin opener; default loads onoff (only called once GPIO is known to exist). */
  loadPorts?: (logger: Logger) => Promise<OnoffPortsResult>;
  /**
   * Turns a configured name (gpio.callTarget, gpio.buttons[].target, the keypad's directory) into
   * what to ring; default: every name is a user, and the call service says whether it exists.
   */
  resolveTarget?: CallTargetResolver;
  /**
   * What the OPEN button (gpio.openButton) does during an active call: open the door of the other
   * unit of the call. Absent: the button is read but does nothing.
   */
  openPeerDoor?: () => Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Press-to-talk (gpio.pageButton): held, a live page to its group; absent: the button is read but does nothing. */
  pressToTalk?: { press(group: string, priority: 'announcement' | 'emergency'): void; release(): void };
  /** The microphone mute a long press of ANSWER toggles in a call (absent: ANSWER hangs up at once). */
  mute?: MuteSwitch;
}

/** A mute switch with change events (AudioLevels fits). */
export interface MuteSwitch {
  readonly isMuted: boolean;
  toggleMute(): unknown;
  on(event: 'changed', listener: () => void): unknown;
  off(event: 'changed', listener: () => void): unknown;
}

/** The buttons' view of a MuteSwitch. */
export function muteControlFor(mute: MuteSwitch): MuteControl {
  return {
    muted: () => mute.isMuted,
    toggle: () => {
      mute.toggleMute();
    },
    onChange(listener) {
      const onChanged = () => listener(mute.isMuted);
      mute.on('changed', onChanged);
      return () => {
        mute.off('changed', onChanged);
      };
    },
  };
}

export type DoorPulseRefusal = 'gpio-unavailable' | 'no-relay' | 'no-active-call' | 'already-open';
export type DoorPulseResult = { ok: true; pulseMs: number } | { ok: false; code: DoorPulseRefusal; reason: string };

export type GpioServiceEvents = {
  /** Something shown in the status changed (availability, a button, the LED mode, the relay). */
  status: [status: GpioStatus];
};

/** A config key below gpio. naming a pin: callButton, ringLed, buttons.0.pin, keypad.rows.1, ... */
type PinRole = string;
type ButtonPin = 'callButton' | 'answerButton';
const BUTTON_PINS: readonly ButtonPin[] = ['callButton', 'answerButton'];
const BUTTON_NAMES: Record<ButtonPin, string> = { callButton: 'CALL', answerButton: 'ANSWER' };

interface OpenedPorts {
  inputs: Record<'callButton' | 'answerButton', InputPort> & { openButton?: InputPort; pageButton?: InputPort };
  outputs: Partial<Record<'ringLed' | 'doorRelay', OutputPort>>;
  /** Flats' buttons and the keypad. */
  doorPanel: DoorPanelPorts;
  /** Every port opened, to close them all. */
  all: Array<InputPort | OutputPort>;
}

interface Running {
  pinMap: PinMap<PinRole>;
  ports: Array<InputPort | OutputPort>;
  callButton: Button;
  answerButton: Button;
  buttons: Record<ButtonPin, Button>;
  /** gpio.openButton, when configured. */
  openButton: Button | null;
  /** gpio.pageButton, when configured. */
  pageButton: Button | null;
  led: IndicatorLed;
  relay: DoorRelay | null;
  panel: CallButtons;
  doorPanel: DoorPanel;
}

/**
 * The unit's front panel: CALL and ANSWER buttons, the ring LED and the optional door relay.
 * When GPIO cannot be used (no sysfs GPIO, no permission, a pin taken) it says why in the log
 * and in status(), and stays out of the way: the rest of the unit works without it.
 */
export class GpioService extends EventEmitter<GpioServiceEvents> {
  private running: Running | null = null;
  private starting: Promise<GpioStatus> | null = null;
  private current: GpioStatus;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: GpioServiceOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.current = { available: false, enabled: options.config.enabled, reason: 'GPIO has not been started yet' };
  }

  status(): GpioStatus {
    if (!this.running) return this.current;
    const { pinMap, callButton, answerButton, openButton, pageButton, led, relay, doorPanel } = this.running;
    const { targetButtons, keypad } = doorPanel.status();
    const pins: Record<string, { bcm: number; sysfs: number }> = {};
    for (const [role, bcm] of Object.entries(gpioPins(this.options.config))) pins[role] = { bcm, sysfs: pinMap.sysfs[role as PinRole] };
    return {
      available: true,
      enabled: true,
      board: pinMap.board,
      chip: { name: pinMap.chip.name, label: pinMap.chip.label, base: pinMap.chip.base },
      pins,
      buttons: { call: callButton.pressed, answer: answerButton.pressed, ...(openButton ? { open: openButton.pressed } : {}), ...(pageButton ? { page: pageButton.pressed } : {}) },
      led: led.mode,
      ...(targetButtons.length > 0 ? { targetButtons } : {}),
      ...(keypad ? { keypad } : {}),
      doorRelay: relay ? { energised: relay.energised, pulseMs: relay.pulseMs } : null,
      warnings: [...BUTTON_PINS.filter((pin) => this.running!.buttons[pin].stuck).map((pin) => this.stuckWarning(pin)), ...doorPanel.warnings()],
    };
  }

  /** Sets everything up, or finds out why it cannot. Never throws; the result is also status(). */
  start(): Promise<GpioStatus> {
    if (this.running) return Promise.resolve(this.status());
    // A second start() while the first is still looking at sysfs gets the same answer.
    this.starting ??= this.setUp().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async setUp(): Promise<GpioStatus> {
    const { config } = this.options;
    if (!config.enabled) return this.unavailable('GPIO is disabled in the configuration (gpio.enabled is false)', 'info');

    const pinProblem = gpioPinProblem(config);
    if (pinProblem) return this.unavailable(pinProblem);

    let pinMap: PinMap<PinRole>;
    try {
      const chipLabels = this.options.chipLabels ?? chipLabelsFor(config.chipLabel);
      pinMap = await mapPins(this.options.sysfsRoot ?? ONOFF_SYSFS_ROOT, gpioPins(config), chipLabels);
    } catch (error) {
      return this.unavailable(error instanceof GpioMappingError ? error.message : `cannot map the GPIO pins: ${(error as Error).message}`);
    }

    const loadPorts = this.options.loadPorts ?? (async (logger: Logger) => (await import('./onoff-ports.js')).loadOnoffPorts(logger));
    const loaded = await loadPorts(this.logger);
    if (!loaded.ok) return this.unavailable(loaded.reason);

    const opened = this.openPorts(loaded.ports, pinMap);
    if ('reason' in opened) return this.unavailable(opened.reason);
    this.running = this.assemble(pinMap, opened);
    this.running.callButton.start();
    this.running.answerButton.start();
    this.running.openButton?.start();
    this.running.pageButton?.start();
    this.running.panel.start();
    this.running.doorPanel.start();

    const pinText = Object.entries(gpioPins(config))
      .map(([role, bcm]) => `${role} BCM ${bcm} = gpio${pinMap.sysfs[role as PinRole]}`)
      .join(', ');
    const status = this.publish();
    this.logger.info({ gpio: status }, `GPIO ready on ${pinMap.board} (${pinMap.chip.name} "${pinMap.chip.label}", base ${pinMap.chip.base}): ${pinText}`);
    return status;
  }

  /** Turns the LED and relay off and releases (unexports) every pin. */
  async stop(): Promise<void> {
    await this.starting;
    const running = this.running;
    if (!running) return;
    this.running = null;
    running.panel.stop();
    running.doorPanel.stop();
    running.callButton.stop();
    running.answerButton.stop();
    running.openButton?.stop();
    running.pageButton?.stop();
    running.led.stop();
    running.relay?.stop();
    for (const port of running.ports) port.close();
    this.current = { available: false, enabled: this.options.config.enabled, reason: 'GPIO has been stopped' };
    this.logger.info('GPIO stopped; pins released');
    this.emit('status', this.current);
  }

  /**
   * Opens the door (pulses the relay for gpio.doorPulseMs). Only during an active call: the
   * person at the door is let in by someone who is talking to them; `outsideCall` lifts that for
   * callers the configuration trusts to open from afar (Home Assistant with mqtt.allowDoorOpen).
   */
  pulseDoor(options: { outsideCall?: boolean } = {}): DoorPulseResult {
    const running = this.running;
    const refuse = (code: DoorPulseRefusal, reason: string): DoorPulseResult => {
      this.logger.info({ code }, `door not opened: ${reason}`);
      return { ok: false, code, reason };
    };
    if (!running) return refuse('gpio-unavailable', `GPIO is not available (${this.current.available ? '' : this.current.reason})`);
    if (!running.relay) return refuse('no-relay', 'no door relay is configured (gpio.doorRelay)');
    const state = this.options.calls.state();
    if (state !== 'active' && !options.outsideCall) return refuse('no-active-call', `the door opens only during an active call (the call is ${state})`);
    if (!running.relay.pulse()) return refuse('already-open', 'the door relay is already on');
    this.logger.info({ pulseMs: running.relay.pulseMs }, `door relay on for ${running.relay.pulseMs} ms`);
    return { ok: true, pulseMs: running.relay.pulseMs };
  }

  private openPorts(opener: GpioPortOpener, pinMap: PinMap<PinRole>): OpenedPorts | { reason: string } {
    const { config } = this.options;
    const all: Array<InputPort | OutputPort> = [];
    const open = <Port extends InputPort | OutputPort>(role: PinRole, what: string, openOne: (sysfs: number) => Port): Port => {
      const sysfs = pinMap.sysfs[role];
      try {
        const port = openOne(sysfs);
        all.push(port);
        return port;
      } catch (error) {
        throw new Error(`could not open the ${what} pin (gpio.${role}: BCM ${gpioPins(config)[role]}, gpio${sysfs}): ${(error as Error).message}`);
      }
    };
    try {
      const inputs: OpenedPorts['inputs'] = {
        callButton: open('callButton', 'CALL button', (sysfs) => opener.openInput(sysfs, 'CALL button')),
        answerButton: open('answerButton', 'ANSWER button', (sysfs) => opener.openInput(sysfs, 'ANSWER button')),
      };
      if (pinMap.sysfs.openButton !== undefined) inputs.openButton = open('openButton', 'OPEN button', (sysfs) => opener.openInput(sysfs, 'OPEN button'));
      if (pinMap.sysfs['pageButton.pin'] !== undefined) inputs.pageButton = open('pageButton.pin', 'PAGE button', (sysfs) => opener.openInput(sysfs, 'PAGE button'));
      const outputs: Partial<Record<'ringLed' | 'doorRelay', OutputPort>> = {
        ringLed: open('ringLed', 'ring LED', (sysfs) => opener.openOutput(sysfs, Led.offLevel(), 'ring LED')),
      };
      if (pinMap.sysfs.doorRelay !== undefined) {
        const rest = DoorRelay.restLevel({ activeLow: config.doorRelayActiveLow });
        outputs.doorRelay = open('doorRelay', 'door relay', (sysfs) => opener.openOutput(sysfs, rest, 'door relay'));
      }
      const doorPanel: DoorPanelPorts = {
        buttons: (config.buttons ?? []).map((button, index) => {
          const what = `button for ${button.target}`;
          return open(`buttons.${index}.pin`, what, (sysfs) => opener.openInput(sysfs, what));
        }),
        // Rows start low: every row selected, so a key pressed wakes the keypad through its column.
        keypadRows: (config.keypad?.rows ?? []).map((_, index) => open(`keypad.rows.${index}`, `keypad row ${index + 1}`, (sysfs) => opener.openOutput(sysfs, 0, `keypad row ${index + 1}`))),
        keypadColumns: (config.keypad?.columns ?? []).map((_, index) => open(`keypad.columns.${index}`, `keypad column ${index + 1}`, (sysfs) => opener.openInput(sysfs, `keypad column ${index + 1}`))),
      };
      return { inputs, outputs, doorPanel, all };
    } catch (error) {
      for (const port of all) port.close();
      return { reason: (error as Error).message };
    }
  }

  private assemble(pinMap: PinMap<PinRole>, opened: OpenedPorts): Running {
    const { config, calls } = this.options;
    const buttonOptions = { debounceMs: config.debounceMs, longPressMs: config.longPressMs, activeLow: config.activeLow };
    const callButton = new Button(opened.inputs.callButton, this.clock, { ...buttonOptions, name: 'call' });
    const answerButton = new Button(opened.inputs.answerButton, this.clock, { ...buttonOptions, name: 'answer' });
    const buttons = { callButton, answerButton };
    for (const pin of BUTTON_PINS) {
      const button = buttons[pin];
      button.on('press', () => this.publish());
      button.on('release', () => this.publish());
      button.on('stuck', (stuck) => {
        const warning = this.stuckWarning(pin);
        const fields = { gpio: { warning: warning.code, pin, bcm: warning.bcm } };
        if (stuck) this.logger.warn(fields, warning.message);
        else this.logger.info(fields, `the ${BUTTON_NAMES[pin]} button (gpio.${pin}: BCM ${warning.bcm}) reads released now; the stuck-button warning is cleared`);
        this.publish();
      });
    }
    const openButton = opened.inputs.openButton ? new Button(opened.inputs.openButton, this.clock, { ...buttonOptions, name: 'open' }) : null;
    if (openButton) {
      openButton.on('press', () => {
        this.publish();
        this.openPressed();
      });
      openButton.on('release', () => this.publish());
    }
    const pageButton = opened.inputs.pageButton ? new Button(opened.inputs.pageButton, this.clock, { ...buttonOptions, name: 'page' }) : null;
    const pageConfig = config.pageButton;
    if (pageButton && pageConfig) {
      pageButton.on('press', () => {
        this.publish();
        this.logger.info({ button: 'page', group: pageConfig.group }, 'PAGE held: paging the microphone to the group');
        this.options.pressToTalk?.press(pageConfig.group, pageConfig.priority ?? 'announcement');
      });
      pageButton.on('release', () => {
        this.publish();
        this.options.pressToTalk?.release();
      });
    }
    const led = new IndicatorLed(new Led(opened.outputs.ringLed!, this.clock, { blinkPeriodMs: config.ledBlinkPeriodMs ?? DEFAULT_BLINK_PERIOD_MS }), this.clock);
    // Every call the panel places goes through the one resolver (a user today; groups later).
    const resolveTarget = this.options.resolveTarget ?? nameAsUser;
    const resolvedCalls: CallControl = {
      state: () => calls.state(),
      initiate: (to) => {
        const resolved = resolveTarget(to);
        return resolved.ok ? calls.initiate(resolved.name) : Promise.reject(new Error(resolved.reason));
      },
      accept: () => calls.accept(),
      reject: () => calls.reject(),
      hangUp: () => calls.hangUp(),
      onChange: (listener) => calls.onChange(listener),
    };
    const relayPort = opened.outputs.doorRelay;
    const relay = relayPort
      ? new DoorRelay(relayPort, this.clock, {
          pulseMs: config.doorPulseMs,
          activeLow: config.doorRelayActiveLow,
          onChange: (energised) => {
            if (!energised) this.logger.info('door relay off');
            this.publish();
          },
        })
      : null;
    const panel = new CallButtons({
      calls: resolvedCalls,
      callButton,
      answerButton,
      led: {
        set: (mode: LedMode) => {
          if (mode === led.mode) return;
          led.set(mode);
          this.logger.debug({ led: mode }, `ring LED ${mode}`);
          this.publish();
        },
      },
      callTarget: config.callTarget,
      logger: this.logger,
      ...(this.options.mute ? { mute: muteControlFor(this.options.mute) } : {}),
    });
    const doorPanel = new DoorPanel({
      config,
      ports: opened.doorPanel,
      calls,
      caller: new TargetCaller({ calls, resolveTarget, feedback: led, logger: this.logger }),
      feedback: led,
      clock: this.clock,
      logger: this.logger,
      onChange: () => this.publish(),
    });
    return { pinMap, ports: opened.all, callButton, answerButton, buttons, openButton, pageButton, led, relay, panel, doorPanel };
  }

  /** OPEN pressed: during an active call, the other unit of the call opens its door; otherwise nothing happens. */
  private openPressed(): void {
    const state = this.options.calls.state();
    const bcm = this.options.config.openButton;
    if (state !== 'active') {
      this.logger.info({ button: 'open', callState: state }, `OPEN pressed while ${state}: no effect (the door opens only during a call)`);
      return;
    }
    const openPeerDoor = this.options.openPeerDoor;
    if (!openPeerDoor) {
      this.logger.info({ button: 'open' }, 'OPEN pressed: no effect (this unit cannot open the other unit\'s door)');
      return;
    }
    this.logger.info({ button: 'open', bcm }, 'OPEN pressed during the call: opening the door of the other unit');
    openPeerDoor().then(
      (result) => {
        if (!result.ok) {
          this.logger.warn({ button: 'open' }, `OPEN: the door did not open: ${result.reason}`);
          this.running?.led.flash('refused');
        }
      },
      (error: unknown) => this.logger.warn({ button: 'open', err: error }, 'OPEN: the door could not be opened'),
    );
  }

  /**
   * What a button that reads "pressed" since start most likely means, in words that name the pin
   * and the settings to check.
   */
  private stuckWarning(pin: ButtonPin): GpioWarning {
    const { config } = this.options;
    const bcm = config[pin];
    const label = `the ${BUTTON_NAMES[pin]} button (gpio.${pin}: BCM ${bcm})`;
    const cause = config.activeLow
      ? `has read low, which is "pressed" with gpio.activeLow true, ever since GPIO started: nothing pulls the pin up. ` +
        `A button to ground needs a pull-up (config.txt: gpio=${bcm}=ip,pu); a button to 3.3 V needs gpio.activeLow false (intercom.txt: gpio_active_low=no)`
      : `has read high, which is "pressed" with gpio.activeLow false, ever since GPIO started: nothing pulls the pin down. ` +
        `A button to 3.3 V needs a pull-down (config.txt: gpio=${bcm}=ip,pd); a button to ground needs gpio.activeLow true (intercom.txt: gpio_active_low=yes)`;
    const message =
      `${label} ${cause}. The Raspberry Pi image writes the pulls into config.txt at boot; they take effect from the next reboot (docs/WIRING.md). ` +
      'Until the pin reads released, presses of this button are not seen.';
    return { code: 'button-stuck', pin, bcm, message };
  }

  private unavailable(reason: string, level: 'info' | 'warn' = 'warn'): GpioStatus {
    this.current = { available: false, enabled: this.options.config.enabled, reason };
    const consequence = 'the CALL/ANSWER buttons, ring LED and door relay are off; the rest of the unit keeps working';
    this.logger[level]({ gpio: this.current }, `GPIO unavailable: ${reason}; ${consequence}`);
    this.emit('status', this.current);
    return this.current;
  }

  private publish(): GpioStatus {
    const status = this.status();
    // Before running is set (during assembly), there is nothing new to tell.
    if (this.running) this.emit('status', status);
    return status;
  }
}
