import Type, { type Static } from 'typebox';

const bcmPin = (description: string) => Type.Integer({ minimum: 0, maximum: 57, description: `${description} (BCM number, not the header pin number)` });

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
    doorRelayActiveLow: Type.Optional(Type.Boolean({ description: 'the relay module switches on a low input (default false)' })),
    activeLow: Type.Boolean({ description: 'buttons pull the pin to ground when pressed (internal pull-up); false for buttons to 3.3 V' }),
    debounceMs: Type.Integer({ minimum: 1, maximum: 500, description: 'a button level must hold this long to count' }),
    longPressMs: Type.Integer({ minimum: 200, maximum: 10000, description: 'holding ANSWER this long while a call rings rejects it' }),
    callTarget: Type.String({ minLength: 1, maxLength: 63, description: 'the user the CALL button rings' }),
    doorPulseMs: Type.Integer({ minimum: 100, maximum: 30000, description: 'how long the door relay stays on per opening' }),
    ledBlinkPeriodMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 5000, description: 'one on+off cycle of the ring LED while ringing (default 1000)' })),
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

/** The pins in use, by role. */
export function gpioPins(config: GpioConfig): Record<string, number> {
  const pins: Record<string, number> = { callButton: config.callButton, answerButton: config.answerButton, ringLed: config.ringLed };
  if (config.doorRelay !== undefined && config.doorRelay !== null) pins.doorRelay = config.doorRelay;
  return pins;
}

/** What is wrong with the pin choice that a schema cannot say (two roles on one pin), or null. */
export function gpioPinProblem(config: GpioConfig): string | null {
  const byPin = new Map<number, string[]>();
  for (const [role, pin] of Object.entries(gpioPins(config))) byPin.set(pin, [...(byPin.get(pin) ?? []), role]);
  for (const [pin, roles] of byPin) {
    if (roles.length > 1) return `BCM ${pin} is configured for ${roles.map((role) => `gpio.${role}`).join(' and ')}`;
  }
  return null;
}
