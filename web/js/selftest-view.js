import { byId, setText } from './dom.js';

/**
 * The Sound box's "Test the sound" button: runs the unit's acoustic self-test (POST /api/selftest,
 * about 7 s of a rising whistle and a hiss) and shows the report, or the last one the status
 * carries (with its time). An installer presses it once the box is on the wall.
 */
export class SelfTestView {
  /** @param {{ run: () => Promise<object>, toast: (message: string) => void }} actions */
  constructor(actions) {
    this.actions = actions;
    this.running = false;
    /** The report shown: the last run's, or the status's until one runs here. */
    this.shown = null;
    this.available = false;
    byId('selftest-button').addEventListener('click', () => void this.run());
  }

  async run() {
    if (this.running) return;
    this.running = true;
    this.render(null, false);
    try {
      this.shown = await this.actions.run();
    } catch (error) {
      this.actions.toast(error.message);
    } finally {
      this.running = false;
      this.render(null, false);
    }
  }

  /**
   * @param {{ at: string, report: object } | null | undefined} fromStatus the status's selfTest (undefined: no status yet, or a unit without the test)
   * @param {boolean} inCall the test runs between calls only
   */
  render(fromStatus, inCall) {
    if (fromStatus && (!this.shown || fromStatus.at > this.shown.at)) this.shown = fromStatus;
    const button = byId('selftest-button');
    // A unit without the test (no sound path of its own) has no selfTest in its status at all.
    if (fromStatus !== undefined) this.available = true;
    button.parentElement.hidden = !this.available;
    button.disabled = this.running || inCall;
    setText(button, this.running ? 'Testing…' : 'Test the sound');
    const state = byId('selftest-state');
    if (this.running) setText(state, 'The speaker plays a whistle and a hiss; keep quiet near the unit for a few seconds.');
    else if (this.shown) setText(state, `Last test ${new Date(this.shown.at).toLocaleString()}`);
    else setText(state, 'Never tested on this unit.');
    const list = byId('selftest-result');
    list.hidden = this.running || !this.shown;
    if (list.hidden) return;
    const report = this.shown.report;
    const lines = [
      report.speakerHeard
        ? `Speaker: heard by the microphone ${report.echoDelayMs.toFixed(0)} ms after playing, ${report.couplingDb.toFixed(0)} dB`
        : 'Speaker: NOT heard by the microphone',
      report.microphoneLive
        ? `Microphone: live, noise ${report.noiseFloorDbfs === null ? 'none' : `${report.noiseFloorDbfs.toFixed(0)} dBFS`}${report.microphoneClipped ? ', clipping' : ''}`
        : 'Microphone: DEAD (no signal)',
      report.cancellerConverged === null
        ? 'Echo canceller: nothing to cancel'
        : `Echo canceller: ${report.cancellerConverged ? 'converged' : 'did NOT converge'} (${report.cancellerErleDb?.toFixed(0) ?? '?'} dB)`,
      ...(report.problems.length === 0 ? ['All good.'] : report.problems.map((problem) => `Problem: ${problem}`)),
    ];
    list.replaceChildren(
      ...lines.map((line) => {
        const item = document.createElement('li');
        item.textContent = line;
        return item;
      }),
    );
    list.dataset.verdict = report.problems.length === 0 ? 'good' : 'problems';
  }
}
