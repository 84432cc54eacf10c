import { byId, setText } from './dom.js';

/**
 * The Sound box and the mute button: the volume and microphone gain sliders (sent when let go, or
 * at each arrow key), and the microphone mute. What they show comes from the unit (the `levels`
 * event and the answers to the panel's own changes), except while a slider is being moved.
 */
export class LevelsView {
  /** @param {{ onChange: (change: object) => Promise<unknown> }} actions */
  constructor(actions) {
    this.actions = actions;
    this.levels = null;
    this.inCall = false;
    /** The slider a finger or the mouse holds now: the unit's answers do not move it meanwhile. */
    this.held = null;
    for (const [id, key] of [
      ['volume-slider', 'volume'],
      ['mic-gain-slider', 'micGain'],
    ]) {
      const slider = byId(id);
      const output = byId(`${id.replace('-slider', '')}-value`);
      slider.addEventListener('pointerdown', () => (this.held = slider));
      slider.addEventListener('input', () => {
        this.held = slider;
        setText(output, slider.value);
      });
      slider.addEventListener('change', () => {
        this.held = null;
        void this.actions.onChange({ [key]: Number(slider.value) });
      });
    }
    byId('mute-button').addEventListener('click', () => {
      if (!this.levels) return;
      void this.actions.onChange({ muted: !this.levels.muted });
    });
  }

  /** @param {object | null} levels GET /api/audio/levels, or null before the unit said */
  render(levels, inCall) {
    this.levels = levels ?? this.levels;
    this.inCall = inCall;
    const known = this.levels !== null;
    byId('levels').disabled = !known;
    const mute = byId('mute-button');
    const muted = known && this.levels.muted;
    // Muting makes sense in a call; unmuting always (a mute set just before the call ended).
    mute.disabled = !known || (!inCall && !muted);
    mute.setAttribute('aria-pressed', String(muted));
    setText(mute, muted ? 'Unmute microphone' : 'Mute microphone');
    byId('mute-hint').hidden = !muted;
    if (!known) return;
    this.showLevel('volume-slider', this.levels.volume, this.levels.volumeControl);
    this.showLevel('mic-gain-slider', this.levels.micGain, this.levels.micGainControl);
  }

  showLevel(id, value, control) {
    const slider = byId(id);
    const where = byId(`${id.replace('-slider', '')}-where`);
    setText(where, control === 'software' ? 'Set in software (the sound card has no control for it)' : `On the sound card (${control.replace(/^mixer /, '')})`);
    if (this.held === slider) return;
    if (slider.value !== String(value)) slider.value = String(value);
    setText(byId(`${id.replace('-slider', '')}-value`), String(value));
  }
}
