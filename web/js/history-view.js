import { request } from './api.js';
import { byId, h, replaceRows, setText } from './dom.js';
import { describeEndReason, formatDuration } from './format.js';

/**
 * "Recent calls": this unit's call history (GET /api/history), newest first, missed calls marked,
 * each with a Call back button; a filter for missed calls and a Clear button. It reloads when a
 * call ends (the panel's `call` events) and when the panel (re)connects.
 */

const SHOWN = 50;

function otherParty(call) {
  return call.direction === 'outgoing' ? call.callee : call.caller;
}

function describeWhen(iso, now = new Date()) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return '';
  const time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (when.toDateString() === now.toDateString()) return `today ${time}`;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (when.toDateString() === yesterday.toDateString()) return `yesterday ${time}`;
  return when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** "Incoming · talked 02:13", "Missed · nobody answered", "Outgoing · rejected". */
export function describeOutcome(call) {
  if (call.missed) return `Missed · ${call.endReason === 'ring-timeout' ? 'nobody answered' : 'the caller hung up before it was answered'}`;
  const direction = call.direction === 'outgoing' ? 'Outgoing' : 'Incoming';
  if (call.talkMs !== null) return `${direction} · talked ${formatDuration(call.talkMs / 1000)}`;
  if (call.endReason === 'hung-up' && call.direction === 'outgoing') return `${direction} · cancelled before it was answered`;
  if (call.endReason === 'ring-timeout') return `${direction} · nobody answered`;
  return `${direction} · ${describeEndReason(call.endReason)}`;
}

export class HistoryView {
  constructor({ onDial }) {
    this.onDial = onDial;
    this.list = byId('history-list');
    this.empty = byId('no-history');
    this.missedBadge = byId('history-missed');
    this.missedOnly = byId('history-missed-only');
    this.clearButton = byId('history-clear');
    this.answer = null;
    this.loading = null;
    this.again = false;
    this.missedOnly.addEventListener('change', () => this.renderList(this.lastState));
    this.clearButton.addEventListener('click', () => void this.clear());
    this.lastState = null;
  }

  /** Asks the unit for its history; a request while one is on its way is folded into one more. */
  refresh(state) {
    this.lastState = state;
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        try {
          this.answer = await request('GET', '/api/history');
        } catch {
          // The connection indicator tells when the unit is away; the next call event asks again.
        }
      } while (this.again);
      this.loading = null;
      this.render(this.lastState);
    })();
    return this.loading;
  }

  async clear() {
    if (!this.answer?.total) return;
    if (!window.confirm(`Forget all ${this.answer.total} calls of this unit's history?`)) return;
    try {
      await request('DELETE', '/api/history');
    } catch (error) {
      setText(this.empty, error.message);
      this.empty.hidden = false;
      return;
    }
    await this.refresh(this.lastState);
  }

  render(state) {
    this.lastState = state;
    const answer = this.answer;
    const missed = answer?.missed ?? 0;
    this.missedBadge.hidden = missed === 0;
    setText(this.missedBadge, `${missed} missed`);
    this.clearButton.disabled = !answer?.total;
    this.renderList(state);
  }

  renderList(state) {
    const calls = (this.answer?.calls ?? []).filter((call) => !this.missedOnly.checked || call.missed).slice(0, SHOWN);
    this.empty.hidden = calls.length > 0;
    setText(this.empty, this.missedOnly.checked ? 'No missed calls.' : 'No calls yet.');
    const hasLocalUser = (state?.users ?? []).some((user) => user.local);
    const inCall = Boolean(state?.call);
    const rows = calls.map((call) => {
      const other = otherParty(call);
      const why = !hasLocalUser ? 'register a user here first' : inCall ? 'a call is in progress' : null;
      return h(
        'li',
        { className: `row history-row${call.missed ? ' missed' : ''}`, dataset: { key: call.id, callId: call.id, direction: call.direction, missed: String(call.missed) } },
        h('span', { className: 'history-arrow', 'aria-hidden': 'true' }, call.direction === 'outgoing' ? '↗' : '↙'),
        h(
          'span',
          { className: 'row-main' },
          h('strong', { className: 'row-name' }, other.user),
          h('span', { className: 'row-sub history-outcome' }, describeOutcome(call)),
          h('span', { className: 'row-sub' }, `unit ${other.unitName} · ${describeWhen(call.startedAt)}`),
        ),
        h(
          'button',
          {
            type: 'button',
            className: 'button small',
            dataset: { control: 'call-back' },
            disabled: Boolean(why),
            title: why ?? undefined,
            'aria-label': `Call ${other.user} back`,
            onClick: () => this.onDial(other.user),
          },
          'Call back',
        ),
      );
    });
    replaceRows(this.list, rows);
  }
}
