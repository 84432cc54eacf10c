import { request } from './api.js';
import { byId, h, setText } from './dom.js';

const OUTCOMES = {
  playing: 'plays it',
  'do-not-disturb': 'do-not-disturb (announcements silenced)',
  'page-playing': 'busy with a page of equal or higher priority',
  'no-speaker': 'has no speaker',
  refused: 'refused',
  unreachable: 'unreachable',
  offline: 'offline',
  dropped: 'dropped (stopped hearing it)',
};

/** Base64 of a file's bytes (the API takes the WAV inside its JSON body). */
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * "Paging": a recorded announcement (a WAV file) to a call group, played on every member's unit at
 * once (POST /api/page); emergency pages play even under do-not-disturb and over a call, an
 * announcement is mixed over a call at lower call volume. Shows the page this unit sends or plays
 * (live from the `page` event) and how each member unit took the last one.
 */
export class PagingView {
  constructor() {
    this.group = byId('page-group');
    this.priority = byId('page-priority');
    this.file = byId('page-wav');
    this.result = byId('page-result');
    this.members = byId('page-members');
    this.now = byId('page-now');
    this.endButton = byId('page-end');
    this.status = { outgoing: null, incoming: null, recent: [] };
    byId('page-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    this.endButton.addEventListener('click', () => void this.end());
  }

  /** The groups to choose from (GroupsView's list). */
  setGroups(groups) {
    const chosen = this.group.value;
    this.group.replaceChildren(...groups.map((group) => h('option', { value: group.name }, group.name)));
    if (groups.some((group) => group.name === chosen)) this.group.value = chosen;
  }

  async refresh() {
    try {
      this.status = await request('GET', '/api/page');
    } catch {
      // The connection indicator tells when the unit is away.
    }
    this.render();
  }

  async send() {
    const file = this.file.files?.[0];
    if (!this.group.value) return setText(this.result, 'Make a call group first: a page goes to a group.');
    if (!file) return setText(this.result, 'Choose the announcement (a WAV file, up to 30 s).');
    setText(this.result, 'Paging…');
    try {
      const { page } = await request('POST', '/api/page', { group: this.group.value, priority: this.priority.value, wav: await base64Of(file) });
      const playing = page.members.filter((member) => member.outcome === 'playing').length;
      setText(this.result, `Paging "${page.group}" (${page.priority}): ${playing} of ${page.members.length} units play it.`);
      this.renderMembers(page);
    } catch (error) {
      setText(this.result, error.message);
    }
    await this.refresh();
  }

  async end() {
    try {
      await request('POST', '/api/page/end', {});
      setText(this.result, 'Page ended.');
    } catch (error) {
      setText(this.result, error.message);
    }
    await this.refresh();
  }

  /** A `page` event: a page this unit sends or plays started, changed or ended. */
  take() {
    void this.refresh();
  }

  renderMembers(page) {
    this.members.replaceChildren(
      ...page.members.map((member) =>
        h('li', { className: 'row', dataset: { unit: member.unitName } }, h('span', { className: 'name' }, member.unitName), h('span', { className: 'meta' }, `${OUTCOMES[member.outcome] ?? member.outcome}${member.via ? ` (${member.via})` : ''}`)),
      ),
    );
  }

  render() {
    const { outgoing, incoming, recent } = this.status;
    this.endButton.hidden = !outgoing;
    if (outgoing) {
      setText(this.now, `Sending a${outgoing.priority === 'emergency' ? 'n emergency' : 'n announcement'} to "${outgoing.group}".`);
      this.renderMembers(outgoing);
    } else if (incoming) {
      setText(this.now, `Playing ${incoming.priority === 'emergency' ? 'an emergency' : 'an announcement'} from ${incoming.origin} to "${incoming.group}".`);
    } else {
      setText(this.now, '');
      const last = recent.find((page) => page.direction === 'outgoing');
      if (last) this.renderMembers(last);
    }
  }
}
