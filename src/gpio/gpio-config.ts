import Type, { type Static } from 'typebox';

const bcmPin = (description: string) => Type.Integer({ minimum: 0, maximum: 57, description: `${description} (BCM number, not the header pin number)` });
const callTargetName = (description: string) => Type.String({ minLength: 1, maxLength: 63, description });

/** The keys of a 3x4 keypad, row by row as printed on it. */
export const KEYPAD_LAYOUT = [
  ['1', '2', '3'],
  ['4', '5', '6'],
  ['7', '8', '9'],
  ['*', '0', '#'],
] as const;
export const KEYPAD_ROWS = KEYPAD_LAYOUT.length;
export const KEYPAD_COLUMNS = KEYPAD_LAYOUT[0].length;
/** What a visitor can dial: 1 to 8 digits. */
export const DIAL_NUMBER_PATTERN = '^[0-9]{1,8}$';

/** One of `gpio.buttons`: a push button that rings its own user (or group), e.g. one per flat. */
export const TargetButtonSchema = Type.Object(
  {
    pin: bcmPin('button input'),
    target: callTargetName('the user (or group) this button rings'),
  },
  { additionalProperties: false },
);

/** `gpio.keypad`: a 3x4 matrix keypad on which a visitor dials a number from `directory`. */
export const KeypadConfigSchema = Type.Object(
  {
    rows: Type.Array(bcmPin('keypad row line (an output)'), { description: 'the 4 row lines, top row (1 2 3) first: outputs' }),
    columns: Type.Array(bcmPin('keypad column line (an input)'), { description: 'the 3 column lines, left column (1 4 7 *) first: inputs with pull-ups' }),
    directory: Type.Record(Type.String(), callTargetName('the user (or group) this number rings'), {
      description: 'what a visitor can dial: number (1 to 8 digits) -> user or group',
    }),
    entryTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 60000, description: 'a half-typed number is cleared after this long without a key (default 8000)' })),
    scanIntervalMs: Type.Optional(Type.Integer({ minimum: 2, maximum: 100, description: 'how often the keypad is scanned while a key is down (default 10)' })),
  },
  { additionalProperties: false },
);

/**
 * The `gpio` section of the configuration. BCM numbers, as on the Pi's pinout; the service maps
 * them to the kernel's numbers itself (chip-map.ts). To be merged into src/config/schema.ts.
 */
export const GpioConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'use the front-panel buttons, ring LED and door relay' }),
    callButton: bcmPin('CALL button input'),
    answerButton: bcmPin('ANSWER / hang-up button input'),
    ringLed: bcmPin('ring LED output'),
    doorRelay: Type.Optional(Type.Union([bcmPin('door-opener relay output'), Type.Null()], { description: 'door-opener relay output (BCM number), or null for none' })),
    openButton: Type.Optional(
      Type.Union([bcmPin('OPEN button input'), Type.Null()], {
        description: 'OPEN button input (BCM number), or null for none: during a call it opens the door of the other unit (the door station\'s relay)',
      }),
    ),
    pageButton: Type.Optional(
      Type.Union(
        [
          Type.Object(
            {
              pin: bcmPin('PAGE (press-to-talk) button input'),
              group: Type.String({ minLength: 1, maxLength: 64, description: 'the call group held PAGE speaks to' }),
              priority: Type.Optional(Type.Union([Type.Literal('announcement'), Type.Literal('emergency')], { description: 'announcement (default) or emergency' })),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        { description: 'a press-to-talk PAGE button, or null for none: held, the microphone is paged live to the group' },
      ),
    ),
    doorRelayActiveLow: Type.Optional(Type.Boolean({ description: 'the relay module switches on a low input (default false)' })),
    activeLow: Type.Boolean({ description: 'buttons pull the pin to ground when pressed (internal pull-up); false for buttons to 3.3 V' }),
    debounceMs: Type.Integer({ minimum: 1, maximum: 500, description: 'a button level must hold this long to count' }),
    longPressMs: Type.Integer({ minimum: 200, maximum: 10000, description: 'holding ANSWER this long while a call rings rejects it' }),
    callTarget: Type.String({ minLength: 1, maxLength: 63, description: 'the user the CALL button rings' }),
    doorPulseMs: Type.Integer({ minimum: 100, maximum: 30000, description: 'how long the door relay stays on per opening' }),
    ledBlinkPeriodMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 5000, description: 'one on+off cycle of the ring LED while ringing (default 1000)' })),
    buttons: Type.Optional(
      Type.Array(TargetButtonSchema, { maxItems: 24, description: 'more call buttons, each ringing its own user or group (a door panel for a small building)' }),
    ),
    keypad: Type.Optional(Type.Union([KeypadConfigSchema, Type.Null()], { description: 'a 3x4 matrix keypad to dial numbers of `directory`, or null for none' })),
    chipLabel: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'label of the GPIO chip whose line numbers the pins are (default: the Raspberry Pi header chip); for boards and emulators without a Pi header',
      }),
    ),
  },
  { additionalProperties: false },
);

export type GpioConfig = Static<typeof GpioConfigSchema>;
export type TargetButtonConfig = Static<typeof TargetButtonSchema>;
export type KeypadConfig = Static<typeof KeypadConfigSchema>;

/**
 * The pins in use, by role: the config key below `gpio.` ("callButton", "buttons.0.pin",
 * "keypad.rows.2"), in the order they are listed in the config.
 */
export function gpioPins(config: GpioConfig): Record<string, number> {
  const pins: Record<string, number> = { callButton: config.callButton, answerButton: config.answerButton, ringLed: config.ringLed };
  if (config.doorRelay !== undefined && config.doorRelay !== null) pins.doorRelay = config.doorRelay;
  if (config.openButton !== undefined && config.openButton !== null) pins.openButton = config.openButton;
  if (config.pageButton) pins['pageButton.pin'] = config.pageButton.pin;
  (config.buttons ?? []).forEach((button, index) => {
    pins[`buttons.${index}.pin`] = button.pin;
  });
  if (config.keypad) {
    config.keypad.rows.forEach((pin, index) => {
      pins[`keypad.rows.${index}`] = pin;
    });
    config.keypad.columns.forEach((pin, index) => {
      pins[`keypad.columns.${index}`] = pin;
    });
  }
  return pins;
}

/** A setting that is wrong in a way the schema cannot say: `key` is the full config key ("gpio.keypad.rows"). */
export interface GpioConfigProblem {
  key: string;
  problem: string;
}

/**
 * What is wrong with the gpio section beyond its schema, or null: a keypad with the wrong number of
 * lines, a number no visitor can type, or one pin given two jobs (named by the key that takes it second).
 */
export function gpioConfigProblem(config: GpioConfig): GpioConfigProblem | null {
  const keypad = config.keypad;
  if (keypad) {
    if (keypad.rows.length !== KEYPAD_ROWS) {
      return { key: 'gpio.keypad.rows', problem: `lists ${keypad.rows.length} pins; a 3x4 keypad has ${KEYPAD_ROWS} row lines (top row first)` };
    }
    if (keypad.columns.length !== KEYPAD_COLUMNS) {
      return { key: 'gpio.keypad.columns', problem: `lists ${keypad.columns.length} pins; a 3x4 keypad has ${KEYPAD_COLUMNS} column lines (left column first)` };
    }
    const numbers = Object.keys(keypad.directory);
    if (numbers.length === 0) return { key: 'gpio.keypad.directory', problem: 'is empty: give at least one number and whom it rings, e.g. {"101": "Flat 1"}' };
    const undialable = numbers.find((number) => !new RegExp(DIAL_NUMBER_PATTERN).test(number));
    if (undialable !== undefined) {
      return { key: `gpio.keypad.directory.${undialable}`, problem: `is not a number a visitor can type on the keypad (1 to 8 digits 0-9)` };
    }
  }
  const firstUse = new Map<number, string>();
  for (const [role, pin] of Object.entries(gpioPins(config))) {
    const earlier = firstUse.get(pin);
    if (earlier !== undefined) {
      return { key: `gpio.${role}`, problem: `is BCM ${pin}, which gpio.${earlier} uses already: each pin can do one job` };
    }
    firstUse.set(pin, role);
  }
  return null;
}

/** What is wrong with the pin choice (see gpioConfigProblem) as one sentence naming the key, or null. */
export function gpioPinProblem(config: GpioConfig): string | null {
  const found = gpioConfigProblem(config);
  return found ? `${found.key} ${found.problem}` : null;
}
