import Type, { type Static } from 'typebox';

/**
 * Something about the front panel a person should fix, while the rest of it works. The only kind
 * so far: a button whose pin has read "pressed" ever since GPIO started (wrong pull or polarity).
 */
export const GpioWarningSchema = Type.Object({
  /** button-stuck: a button's pin reads pressed since start; keypad-stuck: keypad keys read pressed for seconds. */
  code: Type.Union([Type.Literal('button-stuck'), Type.Literal('keypad-stuck')]),
  /** The config key of the pin below gpio., e.g. "callButton" or "buttons.2.pin"; "keypad" for the keypad. */
  pin: Type.String(),
  bcm: Type.Integer(),
  message: Type.String(),
});

export type GpioWarning = Static<typeof GpioWarningSchema>;

/**
 * The GPIO part of GET /api/status and the panel. When GPIO is not in use, `reason` says why in
 * words a person can act on; the rest of the unit works either way.
 */
export const GpioStatusSchema = Type.Union([
  Type.Object({
    available: Type.Literal(false),
    /** Whether the config asks for GPIO at all. */
    enabled: Type.Boolean(),
    reason: Type.String(),
  }),
  Type.Object({
    available: Type.Literal(true),
    enabled: Type.Literal(true),
    /** e.g. "Raspberry Pi 4/400/CM4", from the chip label. */
    board: Type.String(),
    chip: Type.Object({ name: Type.String(), label: Type.String(), base: Type.Integer() }),
    /** BCM number and kernel (sysfs) number of every pin in use. */
    pins: Type.Record(Type.String(), Type.Object({ bcm: Type.Integer(), sysfs: Type.Integer() })),
    buttons: Type.Object({
      call: Type.Boolean({ description: 'pressed' }),
      answer: Type.Boolean({ description: 'pressed' }),
      open: Type.Optional(Type.Boolean({ description: 'pressed (absent: no gpio.openButton)' })),
      page: Type.Optional(Type.Boolean({ description: 'pressed (absent: no gpio.pageButton)' })),
    }),
    /** muted: steady with a short dark blink every second, a call with the microphone muted. */
    led: Type.Union([Type.Literal('off'), Type.Literal('steady'), Type.Literal('blinking'), Type.Literal('muted')]),
    /** gpio.buttons: each flat's button, whom it rings and whether it is down (absent: none configured). */
    targetButtons: Type.Optional(Type.Array(Type.Object({ bcm: Type.Integer(), target: Type.String(), pressed: Type.Boolean() }))),
    /** gpio.keypad, or null when there is none. */
    keypad: Type.Optional(
      Type.Union([
        Type.Object({
          keysDown: Type.Array(Type.String(), { description: 'keys held now' }),
          typedDigits: Type.Integer({ description: 'how many digits a visitor has typed (the number itself is not shown)' }),
          numbers: Type.Integer({ description: 'numbers in gpio.keypad.directory' }),
        }),
        Type.Null(),
      ]),
    ),
    /** null when no relay is configured. */
    doorRelay: Type.Union([Type.Object({ energised: Type.Boolean(), pulseMs: Type.Integer() }), Type.Null()]),
    /** Empty when all is well. */
    warnings: Type.Array(GpioWarningSchema),
  }),
]);

export type GpioStatus = Static<typeof GpioStatusSchema>;
