import type { CallSnapshot } from '../calls/call-service.js';
import type { GpioStatus } from '../gpio/gpio-status.js';
import type { UnitSoundName, UnitSounds, SoundSource } from './unit-sounds.js';

/** Where the unit's own sounds play: the speaker, mixed with call audio (CallAudio.setLocalSound). */
export interface SoundOutput {
  setLocalSound(source: { nextFrame(frameSamples: number): Int16Array | null } | null): void;
}

/** What CallSounds listens to: the call service's `call` events. */
export interface CallEventSource {
  on(event: 'call', listener: (call: CallSnapshot) => void): unknown;
  off(event: 'call', listener: (call: CallSnapshot) => void): unknown;
}

/** What CallSounds listens to for the door chime: the GPIO service's `status` events. */
export interface DoorEventSource {
  on(event: 'status', listener: (status: GpioStatus) => void): unknown;
  off(event: 'status', listener: (status: GpioStatus) => void): unknown;
}

/**
 * The sound a call's change makes on this unit's own speaker, or null for silence, or undefined
 * to leave what plays as it is. A called unit rings; a calling unit hears ringback, then busy or
 * the unreachable tone when that is how its call ends; a call that was talking ends with the
 * "ended" chime on both units. A call that rang here and ended unanswered goes quiet: the caller
 * gave up or another unit answered, and nobody is there to be told.
 */
export function soundFor(call: CallSnapshot, wasActive: boolean): UnitSoundName | null | undefined {
  if (call.phase === 'ringing') return call.direction === 'incoming' ? 'ring' : 'ringback';
  if (call.phase === 'active') return null;
  // Both units called each other at once: the call that replaces this one makes its own sound.
  if (call.supersededBy !== null) return undefined;
  if (wasActive) return 'ended';
  if (call.direction === 'outgoing') {
    if (call.endReason === 'busy') return 'busy';
    if (call.endReason === 'unreachable' || call.endReason === 'peer-lost' || call.endReason === 'media-failed') return 'unreachable';
  }
  return null;
}

/**
 * Plays the unit's own sounds as its calls change (soundFor) and a short chime when the door
 * relay opens, whoever opened it (the panel, Home Assistant, a button). A sound that is already
 * playing for the same call and phase goes on: repeated `call` events with fresh statistics do not
 * restart the ring.
 */
export class CallSounds {
  private playing: { key: string; source: SoundSource } | null = null;
  private readonly activeCalls = new Set<string>();
  private doorWasOpen = false;
  private readonly detach: Array<() => void> = [];

  constructor(
    private readonly sounds: UnitSounds,
    private readonly output: SoundOutput,
  ) {}

  attach(calls: CallEventSource, door?: DoorEventSource): void {
    const onCall = (call: CallSnapshot) => this.onCall(call);
    calls.on('call', onCall);
    this.detach.push(() => calls.off('call', onCall));
    if (door) {
      const onStatus = (status: GpioStatus) => {
        const open = 'doorRelay' in status && status.doorRelay?.energised === true;
        if (open && !this.doorWasOpen) this.play('doorOpened', `door:${Date.now()}`);
        this.doorWasOpen = open;
      };
      door.on('status', onStatus);
      this.detach.push(() => door.off('status', onStatus));
    }
  }

  /**
   * The auto-answer tone: the line of call `callId` is about to open by itself. It plays to its
   * end over the call becoming active (only sounds keyed to the call's own phases stop then).
   */
  announceAutoAnswer(callId: string): void {
    this.play('autoAnswer', `auto-answer:${callId}`);
  }

  /** The sound playing now, if any (for status and tests). */
  get current(): UnitSoundName | null {
    return this.playing && !this.playing.source.finished ? this.playing.source.name : null;
  }

  stop(): void {
    for (const undo of this.detach.splice(0)) undo();
    this.silence();
  }

  private onCall(call: CallSnapshot): void {
    const wasActive = this.activeCalls.has(call.id);
    if (call.phase === 'active') this.activeCalls.add(call.id);
    if (call.phase === 'ended') this.activeCalls.delete(call.id);
    const sound = soundFor(call, wasActive);
    if (sound === undefined) return;
    if (sound === null) {
      // Only the sound of this call stops: the door chime of a moment ago plays to its end.
      if (this.playing?.key.startsWith(`${call.id}:`)) this.silence();
      return;
    }
    this.play(sound, `${call.id}:${call.phase}:${sound}`);
  }

  private play(name: UnitSoundName, key: string): void {
    if (this.playing && this.playing.key === key && !this.playing.source.finished) return;
    const source = this.sounds.play(name);
    this.playing = { key, source };
    this.output.setLocalSound({ nextFrame: (samples) => source.nextFrame(samples) });
  }

  /** Fades the sound out over its next frame (no click); the source then ends itself on the speaker. */
  private silence(): void {
    if (!this.playing) return;
    this.playing.source.stop();
    this.playing = null;
  }
}
