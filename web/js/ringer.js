/**
 * The ring sound for an incoming call, synthesised with the Web Audio API (no sound file): a
 * double ring of two mixed tones, repeated every three seconds.
 *
 * Browsers keep audio suspended until the person has interacted with the page; unlock() is
 * called on every click and key press, and `state` says 'blocked' until then so the panel can
 * ask for a tap.
 */

const CYCLE_S = 3;
const BURSTS = [
  { at: 0, length: 0.4 },
  { at: 0.6, length: 0.4 },
];
const TONES_HZ = [400, 450];
const VOLUME = 0.18;
const RAMP_S = 0.02;

export class Ringer {
  constructor(onChange = () => {}) {
    this.onChange = onChange;
    this.context = null;
    this.enabled = true;
    this.ringing = false;
    this.timer = null;
    this.voices = new Set();
  }

  /** 'silent' (not ringing), 'muted', 'blocked' (waiting for a gesture) or 'sounding'. */
  get state() {
    if (!this.ringing) return 'silent';
    if (!this.enabled) return 'muted';
    return this.context?.state === 'running' ? 'sounding' : 'blocked';
  }

  /** Creates or resumes the audio context; call from a user gesture. */
  unlock() {
    const context = this.ensureContext();
    if (context && context.state !== 'running') context.resume().catch(() => {});
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    if (!enabled) this.silenceVoices();
    else if (this.ringing) this.ringCycle();
    this.onChange(this.state);
  }

  start() {
    if (this.ringing) return;
    this.ringing = true;
    const context = this.ensureContext();
    if (context && context.state !== 'running') context.resume().catch(() => {});
    this.ringCycle();
    this.timer = setInterval(() => this.ringCycle(), CYCLE_S * 1000);
    this.onChange(this.state);
  }

  stop() {
    if (!this.ringing) return;
    this.ringing = false;
    clearInterval(this.timer);
    this.timer = null;
    this.silenceVoices();
    this.onChange(this.state);
  }

  ensureContext() {
    if (this.context) return this.context;
    const AudioContextClass = window.AudioContext ?? window.webkitAudioContext;
    if (!AudioContextClass) return null;
    this.context = new AudioContextClass();
    this.context.addEventListener('statechange', () => this.onChange(this.state));
    return this.context;
  }

  ringCycle() {
    const context = this.context;
    if (!this.enabled || !context || context.state !== 'running') return;
    const start = context.currentTime + 0.05;
    for (const burst of BURSTS) {
      const envelope = context.createGain();
      const from = start + burst.at;
      const to = from + burst.length;
      envelope.gain.setValueAtTime(0, from);
      envelope.gain.linearRampToValueAtTime(VOLUME, from + RAMP_S);
      envelope.gain.setValueAtTime(VOLUME, to - RAMP_S);
      envelope.gain.linearRampToValueAtTime(0, to);
      envelope.connect(context.destination);
      let playing = TONES_HZ.length;
      for (const frequency of TONES_HZ) {
        const oscillator = context.createOscillator();
        oscillator.frequency.value = frequency;
        oscillator.connect(envelope);
        oscillator.start(from);
        oscillator.stop(to);
        this.voices.add(oscillator);
        oscillator.addEventListener('ended', () => {
          this.voices.delete(oscillator);
          oscillator.disconnect();
          playing -= 1;
          if (playing === 0) envelope.disconnect();
        });
      }
    }
  }

  silenceVoices() {
    for (const oscillator of this.voices) {
      try {
        oscillator.stop();
      } catch {
        // already stopped
      }
    }
    this.voices.clear();
  }
}
