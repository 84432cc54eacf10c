import { request } from './api.js';
import { byId, h, setText } from './dom.js';

/**
 * "Call groups": the site's groups (GET /api/groups), each with a Call button (every member's unit
 * rings; the first to answer gets the call) and Delete; a form creates or replaces one. A change
 * made here reaches every unit of the site; the list is read again when the site changes.
 */
export class GroupsView {
  constructor({ onDial, onGroups = () => {} }) {
    this.onDial = onDial;
    this.onGroups = onGroups;
    this.list = byId('group-list');
    this.empty = byId('no-groups');
    this.result = byId('group-result');
    this.form = byId('group-form');
    this.groups = [];
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.save();
    });
  }

  async refresh() {
    try {
      this.groups = (await request('GET', '/api/groups')).groups;
    } catch {
      // The connection indicator tells when the unit is away; the next change asks again.
    }
    this.render();
  }

  async save() {
    const name = byId('group-name').value.trim();
    const members = byId('group-members').value.split(',').map((member) => member.trim()).filter(Boolean);
    try {
      const answer = await request('PUT', `/api/groups/${encodeURIComponent(name)}`, { members });
      setText(this.result, `Saved "${answer.group.name}" (${answer.group.members.length} members); every unit of the site gets it.`);
      this.form.reset();
    } catch (error) {
      setText(this.result, error.message);
    }
    await this.refresh();
  }

  async remove(name) {
    if (!window.confirm(`Delete the group "${name}" on every unit of the site?`)) return;
    try {
      await request('DELETE', `/api/groups/${encodeURIComponent(name)}`);
      setText(this.result, `Deleted "${name}".`);
    } catch (error) {
      setText(this.result, error.message);
    }
    await this.refresh();
  }

  render() {
    this.onGroups(this.groups);
    this.empty.hidden = this.groups.length > 0;
    this.list.replaceChildren(
      ...this.groups.map((group) =>
        h(
          'li',
          { className: 'row', dataset: { group: group.name } },
          h('span', { className: 'name' }, group.name),
          h('span', { className: 'meta' }, group.members.join(', ')),
          h('button', { type: 'button', className: 'button small', onClick: () => this.onDial(group.name) }, 'Call'),
          h('button', { type: 'button', className: 'button small quiet', onClick: () => void this.remove(group.name) }, 'Delete'),
        ),
      ),
    );
  }
}
