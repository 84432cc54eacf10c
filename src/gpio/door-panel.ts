import type { Logger } from '../logging/logger.js';
import type { Clock } from '../system/clock.js';
import { Button } from './button.js';
import type { CallControl } from './call-buttons.js';
import type { GpioConfig } from './gpio-config.js';
import type { GpioWarning } from './gpio-status.js';
import type { FeedbackPattern } from './indicator-led.js';
import { KeypadDialer } from './keypad-dialer.js';
import { MatrixKeypad, type KeypadKey } from './matrix-keypad.js';
import type { InputPort, OutputPort } from './ports.js';
import type { TargetCaller } from './target-caller.js';

/** The pins of the door panel for many flats, opened by GpioService in the order of the config. */
export interface DoorPanelPorts {
  /** One per gpio.buttons entry. */
  buttons: InputPort[];
  /** gpio.keypad.rows and .columns (empty without a keypad). */
  keypadRows: OutputPort[];
  keypadColumns: InputPort[];
}

export interface DoorPanelOptions {
  config: GpioConfig;
  ports: DoorPanelPorts;
  calls: Pick<CallControl, 'state' | 'hangUp'>;
  caller: Pick<TargetCaller, 'call'>;
  feedback: { flash(pattern: FeedbackPattern): void };
  clock: Clock;
  logger: Logger;
  /** Something shown in the status changed. */
  onChange: () => void;
}

export interface DoorPanelStatus {
  targetButtons: Array<{ bcm: number; target: string; pressed: boolean }>;
  keypad: { keysDown: KeypadKey[]; typedDigits: number; numbers: number } | null;
}

/**
 * The door panel of a building: a call button per flat (`gpio.buttons`, each ringing its own
 * target) and a 3x4 keypad on which visitors dial a flat's number (`gpio.keypad`). A flat's button
 * rings its target when the unit is idle (like CALL); while a call rings or is active it does
 * nothing: the CALL/ANSWER pair hangs up. Beside the unit's own CALL/ANSWER buttons.
 */
export class DoorPanel {
  private readonly buttons: Button[];
  private readonly keypad: MatrixKeypad | null;
  private readonly dialer: KeypadDialer | null;
  private stuckKeys: KeypadKey[] = [];

  constructor(private readonly options: DoorPanelOptions) {
    const { config, ports, clock, logger } = options;
    this.buttons = (config.buttons ?? []).map(
      (button, index) =>
        new Button(ports.buttons[index], clock, { name: `buttons.${index}`, debounceMs: config.debounceMs, longPressMs: config.longPressMs, activeLow: config.activeLow }),
    );
    this.buttons.forEach((button, index) => {
      const { pin, target } = config.buttons![index];
      const via = `button gpio.buttons.${index} (BCM ${pin})`;
      button.on('press', () => {
        options.onChange();
        void options.caller.call(target, via);
      });
      button.on('release', () => options.onChange());
      button.on('stuck', (stuck) => {
        const warning = this.buttonWarning(index);
        if (stuck) logger.warn({ gpio: { warning: warning.code, pin: warning.pin, bcm: pin } }, warning.message);
        else logger.info(`${via} reads released now; the stuck-button warning is cleared`);
        options.onChange();
      });
    });
    const keypadConfig = config.keypad ?? null;
    if (keypadConfig) {
      this.keypad = new MatrixKeypad(ports.keypadRows, ports.keypadColumns, clock, { debounceMs: config.debounceMs, scanIntervalMs: keypadConfig.scanIntervalMs });
      this.dialer = new KeypadDialer({
        directory: keypadConfig.directory,
        caller: options.caller,
        calls: options.calls,
        feedback: options.feedback,
        clock,
        logger,
        entryTimeoutMs: keypadConfig.entryTimeoutMs,
      });
      this.keypad.on('press', (key) => {
        this.dialer!.press(key);
        options.onChange();
      });
      this.keypad.on('release', () => options.onChange());
      this.keypad.on('stuck', (stuck, keys) => {
        this.stuckKeys = keys;
        if (stuck) logger.warn({ gpio: { warning: 'keypad-stuck', keys } }, this.keypadWarning().message);
        else logger.info('the keypad reads every key released now; the stuck-key warning is cleared');
        options.onChange();
      });
    } else {
      this.keypad = null;
      this.dialer = null;
    }
  }

  start(): void {
    for (const button of this.buttons) button.start();
    this.keypad?.start();
  }

  stop(): void {
    for (const button of this.buttons) button.stop();
    this.keypad?.stop();
    this.dialer?.stop();
  }

  status(): DoorPanelStatus {
    const { config } = this.options;
    return {
      targetButtons: this.buttons.map((button, index) => ({ bcm: config.buttons![index].pin, target: config.buttons![index].target, pressed: button.pressed })),
      keypad:
        this.keypad && this.dialer && config.keypad
          ? { keysDown: this.keypad.down, typedDigits: this.dialer.typedDigits, numbers: Object.keys(config.keypad.directory).length }
          : null,
    };
  }

  warnings(): GpioWarning[] {
    const warnings = this.buttons.flatMap((button, index) => (button.stuck ? [this.buttonWarning(index)] : []));
    if (this.keypad?.stuck) warnings.push(this.keypadWarning());
    return warnings;
  }

  private buttonWarning(index: number): GpioWarning {
    const { config } = this.options;
    const { pin, target } = config.buttons![index];
    const pull = config.activeLow ? `a pull-up (config.txt: gpio=${pin}=ip,pu)` : `a pull-down (config.txt: gpio=${pin}=ip,pd)`;
    return {
      code: 'button-stuck',
      pin: `buttons.${index}.pin`,
      bcm: pin,
      message:
        `the button for ${target} (gpio.buttons.${index}.pin: BCM ${pin}) has read "pressed" ever since GPIO started: the pin needs ${pull}, ` +
        'or gpio.activeLow is wrong for how the buttons are wired (docs/WIRING.md). Until it reads released, presses of this button are not seen.',
    };
  }

  private keypadWarning(): GpioWarning {
    const { config } = this.options;
    const keys = this.stuckKeys.join(' ');
    const columns = config.keypad!.columns;
    return {
      code: 'keypad-stuck',
      pin: 'keypad',
      bcm: columns[0],
      message:
        `keypad keys ${keys} have read pressed for 5 s: something rests on them, or a column line (gpio.keypad.columns: BCM ${columns.join(', ')}) ` +
        `lacks its pull-up (config.txt: gpio=${columns.join(',')}=ip,pu) or touches ground (docs/WIRING.md). The keypad is checked slowly until they read released.`,
    };
  }
}
