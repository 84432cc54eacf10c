import type { Logger } from '../logging/logger.js';
import type { Button } from './button.js';
import type { LedMode } from './led.js';

/** The unit's call as the front-panel buttons see it. */
export type PanelCallState = 'idle' | 'ringing-in' | 'ringing-out' | 'active';

/**
 * What the buttons need from the call service. Each request may fail (the callee is unknown,
 * the call ended meanwhile); failures are logged, never thrown at the buttons.
 */
export interface CallControl {
  state(): PanelCallState;
  /** Calls `to` (a user name on the site). */
  initiate(to: string): Promise<unknown>;
  /** Answers the call ringing on this unit. */
  accept(): Promise<unknown>;
  /** Refuses the call ringing on this unit. */
  reject(): Promise<unknown>;
  /** Ends the active call, or cancels our own ringing one. */
  hangUp(): Promise<unknown>;
  /** Tells `listener` about every state change; returns a function that stops telling it. */
  onChange(listener: (state: PanelCallState) => void): () => void;
}

/** The microphone mute as the buttons and the LED see it (AudioLevels fits through muteControlFor). */
export interface MuteControl {
  muted(): boolean;
  toggle(): void;
  /** Tells `listener` about every change; returns a function that stops telling it. */
  onChange(listener: (muted: boolean) => void): () => void;
}

export type PanelButton = 'call' | 'answer';
export type ButtonGesture = 'press' | 'short-press' | 'long-press';
export type PanelAction = 'initiate' | 'accept' | 'reject' | 'hang-up' | 'toggle-mute' | 'none';

/**
 * What a button gesture does in each call state. CALL acts the moment it goes down, like a
 * doorbell. ANSWER has to wait for the release while a call rings in, because holding it
 * (a long press) means "reject" instead; when it hangs up it acts on the way down.
 *
 *   state        CALL down    ANSWER down   ANSWER short   ANSWER long
 *   idle         initiate     -             -              -
 *   ringing-in   -            -             accept         reject
 *   ringing-out  -            hang-up       -              -
 *   active       hang-up      -             hang-up        mute / unmute
 *
 * In a call ANSWER waits for the release, because holding it mutes (or unmutes) the microphone;
 * CALL still hangs up at once. Without a mute (`canMute` false) ANSWER hangs up on the way down.
 * A second CALL while our call rings does nothing: a visitor pressing the bell again must not
 * cancel their own call.
 */
export function decideAction(state: PanelCallState, button: PanelButton, gesture: ButtonGesture, canMute = false): PanelAction {
  if (button === 'call') {
    if (gesture !== 'press') return 'none';
    if (state === 'idle') return 'initiate';
    if (state === 'active') return 'hang-up';
    return 'none';
  }
  if (state === 'active' && canMute) {
    if (gesture === 'short-press') return 'hang-up';
    return gesture === 'long-press' ? 'toggle-mute' : 'none';
  }
  if (gesture === 'press') return state === 'active' || state === 'ringing-out' ? 'hang-up' : 'none';
  if (state !== 'ringing-in') return 'none';
  return gesture === 'short-press' ? 'accept' : 'reject';
}

/**
 * The ring LED blinks while a call rings either way, is steady during a call (with a short dark
 * blink every period while the microphone is muted) and off otherwise.
 */
export function ledModeFor(state: PanelCallState, muted = false): LedMode {
  if (state === 'active') return muted ? 'muted' : 'steady';
  if (state === 'ringing-in' || state === 'ringing-out') return 'blinking';
  return 'off';
}

export interface CallButtonsOptions {
  calls: CallControl;
  callButton: Pick<Button, 'on' | 'off'>;
  answerButton: Pick<Button, 'on' | 'off'>;
  led: { set(mode: LedMode): void };
  /** Who the CALL button rings (`gpio.callTarget`). */
  callTarget: string;
  logger: Logger;
  /** The microphone mute: a long press of ANSWER in a call toggles it. Absent: ANSWER hangs up at once. */
  mute?: MuteControl;
}

const GESTURE_WORDS: Record<ButtonGesture, string> = { press: 'pressed', 'short-press': 'released', 'long-press': 'held' };

/**
 * The front panel: turns CALL and ANSWER gestures into call requests (see decideAction) and keeps
 * the ring LED in step with the call. Every gesture and what it did is logged.
 */
export class CallButtons {
  private readonly detach: Array<() => void> = [];

  constructor(private readonly options: CallButtonsOptions) {}

  start(): void {
    if (this.detach.length) return;
    const { calls, led, mute } = this.options;
    const showState = () => led.set(ledModeFor(calls.state(), mute?.muted() ?? false));
    showState();
    this.detach.push(calls.onChange(showState));
    if (mute) this.detach.push(mute.onChange(showState));
    this.listen('call', this.options.callButton);
    this.listen('answer', this.options.answerButton);
  }

  stop(): void {
    for (const undo of this.detach.splice(0)) undo();
  }

  private listen(button: PanelButton, source: Pick<Button, 'on' | 'off'>): void {
    const onPress = () => this.handle(button, 'press', null);
    const onShort = (heldMs: number) => this.handle(button, 'short-press', heldMs);
    const onLong = (heldMs: number) => this.handle(button, 'long-press', heldMs);
    source.on('press', onPress);
    source.on('short-press', onShort);
    source.on('long-press', onLong);
    this.detach.push(() => {
      source.off('press', onPress);
      source.off('short-press', onShort);
      source.off('long-press', onLong);
    });
  }

  private handle(button: PanelButton, gesture: ButtonGesture, heldMs: number | null): void {
    const { calls, logger, callTarget } = this.options;
    const state = calls.state();
    const action = decideAction(state, button, gesture, this.options.mute !== undefined);
    const effect = describe(action, callTarget);
    const heldText = heldMs === null ? '' : ` after ${Math.round(heldMs)} ms`;
    logger.info(
      { button, gesture, heldMs: heldMs ?? undefined, callState: state, action },
      `${button.toUpperCase()} ${GESTURE_WORDS[gesture]}${heldText} while ${state}: ${effect}`,
    );
    if (action === 'none') return;
    this.perform(action).catch((error: unknown) => {
      logger.warn({ button, action, err: error }, `${button.toUpperCase()} could not ${effect}: ${(error as Error)?.message ?? String(error)}`);
    });
  }

  private perform(action: Exclude<PanelAction, 'none'>): Promise<unknown> {
    const { calls, callTarget } = this.options;
    try {
      switch (action) {
        case 'initiate':
          return calls.initiate(callTarget);
        case 'accept':
          return calls.accept();
        case 'reject':
          return calls.reject();
        case 'hang-up':
          return calls.hangUp();
        case 'toggle-mute':
          this.options.mute!.toggle();
          return Promise.resolve();
      }
    } catch (error) {
      // A request that throws before it returns a promise is reported like one that rejects.
      return Promise.reject(error);
    }
  }
}

function describe(action: PanelAction, callTarget: string): string {
  switch (action) {
    case 'initiate':
      return `call ${callTarget}`;
    case 'accept':
      return 'answer the call';
    case 'reject':
      return 'reject the call';
    case 'hang-up':
      return 'hang up';
    case 'toggle-mute':
      return 'mute or unmute the microphone';
    case 'none':
      return 'no effect';
  }
}
