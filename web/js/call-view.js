import { byId, setText } from './dom.js';
import { currentGpio } from './unit-view.js';
import { describeEndReason, describeParty, formatDuration, formatMs, formatPercent, formatTotalMs, lossPercent } from './format.js';

/** The call card: banner, the buttons that fit the call's phase, and live audio figures. */

const PHASE_RANK = { ringing: 0, active: 1, ended: 2 };

export function remoteParty(call) {
  return call.direction === 'outgoing' ? call.callee : call.caller;
}

export function localParty(call) {
  return call.direction === 'outgoing' ? call.caller : call.callee;
}

/**
 * Folds a call snapshot (from an event or a request's answer) into the panel's call state.
 * Snapshots can arrive out of order (the answer to our own request races the event stream), so
 * a call never goes back to an earlier phase, and an ended call stays ended.
 * @returns {boolean} whether anything changed
 */
export function applyCallSnapshot(state, snapshot, receivedAt) {
  if (!snapshot) return false;
  if (state.lastEnded?.id === snapshot.id) return false;
  const current = state.call;
  if (current?.id === snapshot.id && PHASE_RANK[snapshot.phase] < PHASE_RANK[current.phase]) return false;
  if (snapshot.phase === 'ended') {
    // A call we never showed (e.g. one superseded when both units called at once) ends quietly.
    if (current && current.id !== snapshot.id) return false;
    state.call = null;
    state.lastEnded = snapshot;
    return true;
  }
  state.call = snapshot;
  state.callReceivedAt = receivedAt;
  return true;
}

/** "ringing-in", "ringing-out", "active" or "idle": also the card's data-phase, for styling and tests. */
export function panelPhase(call) {
  if (!call) return 'idle';
  if (call.phase === 'active') return 'active';
  return call.direction === 'incoming' ? 'ringing-in' : 'ringing-out';
}

export class CallView {
  constructor({ onAnswer, onReject, onHangUp, onOpenDoor, onOpenPeerDoor }) {
    this.card = byId('call');
    this.banner = byId('call-banner');
    this.headline = byId('call-headline');
    this.detail = byId('call-detail');
    this.duration = byId('call-duration');
    this.stats = byId('call-stats');
    this.buttons = {
      answer: byId('answer-button'),
      reject: byId('reject-button'),
      cancel: byId('cancel-button'),
      hangup: byId('hangup-button'),
    };
    this.buttons.answer.addEventListener('click', () => onAnswer(this.callId));
    this.buttons.reject.addEventListener('click', () => onReject(this.callId));
    this.buttons.cancel.addEventListener('click', () => onHangUp(this.callId));
    this.buttons.hangup.addEventListener('click', () => onHangUp(this.callId));
    // The door relay is this unit's; it is offered only while a call is active and a relay is wired.
    this.doorButton = byId('door-button');
    this.doorButton.addEventListener('click', () => onOpenDoor());
    // During a call, the person here opens the door of the other unit (the door station they talk to).
    this.peerDoorButton = byId('peer-door-button');
    this.peerDoorButton.addEventListener('click', async () => {
      if (!this.callId || this.peerDoorButton.disabled) return;
      this.peerDoorButton.disabled = true;
      try {
        await onOpenPeerDoor(this.callId);
      } finally {
        this.peerDoorButton.disabled = false;
      }
    });
    this.callId = null;
  }

  /** Disables the call buttons while a request for them is under way. */
  setBusy(busy) {
    for (const button of Object.values(this.buttons)) button.disabled = busy;
  }

  render(state) {
    const call = state.call;
    const phase = panelPhase(call);
    const previousPhase = this.card.dataset.phase;
    this.card.dataset.phase = phase;
    this.callId = call?.id ?? null;
    const visible = {
      answer: phase === 'ringing-in',
      reject: phase === 'ringing-in',
      cancel: phase === 'ringing-out',
      hangup: phase === 'active',
    };
    for (const [name, button] of Object.entries(this.buttons)) button.hidden = !visible[name];
    const gpio = currentGpio(state);
    this.doorButton.hidden = !(phase === 'active' && gpio?.available && gpio.pins?.doorRelay !== undefined);
    this.peerDoorButton.hidden = phase !== 'active';
    if (phase === 'active') setText(this.peerDoorButton, `Open door at ${remoteParty(call).unitName}`);

    if (!call) {
      setText(this.headline, 'No call');
      const ended = state.lastEnded;
      setText(
        this.detail,
        ended
          ? `Last call, with ${describeParty(remoteParty(ended))}: ${describeEndReason(ended.endReason)}${ended.activeMs ? ` after ${formatDuration(ended.activeMs / 1000)}` : ''}.`
          : 'Choose a user below to call them.',
      );
    } else if (phase === 'ringing-in') {
      setText(this.headline, `Incoming call for ${call.callee.user}`);
      setText(this.detail, `${call.caller.user} at unit ${call.caller.unitName} is calling.`);
    } else if (phase === 'ringing-out') {
      setText(this.headline, `Calling ${call.callee.user}…`);
      setText(this.detail, `Ringing at unit ${call.callee.unitName}.`);
    } else {
      setText(this.headline, `In a call with ${remoteParty(call).user}`);
      setText(this.detail, `${localParty(call).user} here, ${remoteParty(call).user} at unit ${remoteParty(call).unitName}.`);
    }
    this.stats.hidden = phase !== 'active';
    this.duration.hidden = phase !== 'active';
    this.tick(state);
    if (call?.stats) this.renderStats(call.stats);

    // Keyboard users land on the button that matters when a call starts ringing or connects,
    // unless they are typing somewhere.
    if (phase !== previousPhase) {
      const target = { 'ringing-in': this.buttons.answer, 'ringing-out': this.buttons.cancel, active: this.buttons.hangup }[phase];
      const typing = document.activeElement?.matches?.('input, select, textarea');
      if (target && !typing) target.focus({ preventScroll: true });
    }
  }

  /** Once a second: the call's running time, counted on from the last snapshot. */
  tick(state) {
    const call = state.call;
    if (!call || call.phase !== 'active') return;
    const activeMs = (call.activeMs ?? 0) + (performance.now() - state.callReceivedAt);
    setText(this.duration, `Talking for ${formatDuration(activeMs / 1000)}`);
  }

  renderStats(stats) {
    setText(byId('stat-delay'), `${formatMs(stats.currentDelayMs)} (target ${formatMs(stats.targetDelayMs)})`);
    setText(byId('stat-jitter'), formatMs(stats.jitterMs));
    setText(byId('stat-loss'), `${formatPercent(lossPercent(stats))} (${stats.packetsLost} of ${stats.packetsReceived + stats.packetsLost})`);
    setText(byId('stat-concealed'), formatTotalMs(stats.concealedMs));
    setText(byId('stat-late'), String(stats.packetsLate));
    setText(byId('stat-underruns'), String(stats.underruns));
  }
}
