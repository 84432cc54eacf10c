import { byId, h, replaceRows } from './dom.js';

/** The site's users (with a Call button each) and the other units. */

const byLocalThenName = (a, b) => Number(b.local) - Number(a.local) || a.name.localeCompare(b.name);

function onlineBadge(online) {
  return h('span', { className: `badge ${online ? 'online' : 'offline'}` }, online ? 'online' : 'offline');
}

export class DirectoryView {
  constructor({ onDial }) {
    this.onDial = onDial;
    this.fromSelect = byId('from-select');
    this.userList = byId('user-list');
    this.peerList = byId('peer-list');
  }

  /** The user a call is made as: the selected local user, if any. */
  get fromUser() {
    return this.fromSelect.value || null;
  }

  renderUsers(state) {
    const users = [...state.users].sort(byLocalThenName);
    const local = users.filter((user) => user.local).map((user) => user.name);

    const chosen = this.fromSelect.value;
    const options = local.map((name) => h('option', { value: name }, name));
    const same = options.length === this.fromSelect.options.length && local.every((name, index) => this.fromSelect.options[index].value === name);
    if (!same) {
      this.fromSelect.replaceChildren(...options);
      if (local.includes(chosen)) this.fromSelect.value = chosen;
    }
    byId('from-select').closest('.field').hidden = local.length === 0;
    byId('no-local-users').hidden = local.length > 0;
    byId('no-users').hidden = users.length > 0;

    const inCall = Boolean(state.call);
    const rows = users.map((user) => {
      const key = `${user.unitId}/${user.name}`;
      let action;
      if (user.local) {
        action = h('span', { className: 'tag' }, 'on this unit');
      } else {
        const why = !user.online ? 'its unit is offline' : local.length === 0 ? 'register a user here first' : inCall ? 'a call is in progress' : null;
        action = h(
          'button',
          {
            type: 'button',
            className: 'button small',
            dataset: { control: 'dial' },
            disabled: Boolean(why),
            title: why ?? undefined,
            'aria-label': `Call ${user.name} at unit ${user.unitName}`,
            onClick: () => this.onDial(user.name),
          },
          'Call',
        );
      }
      return h(
        'li',
        { className: 'row', dataset: { key, user: user.name, online: String(user.online) } },
        h('span', { className: 'row-main' }, h('strong', { className: 'row-name' }, user.name), h('span', { className: 'row-sub' }, `unit ${user.unitName}`)),
        onlineBadge(user.online),
        action,
      );
    });
    replaceRows(this.userList, rows);
  }

  renderPeers(state) {
    const peers = [...state.peers].sort((a, b) => a.name.localeCompare(b.name));
    byId('no-peers').hidden = peers.length > 0;
    const rows = peers.map((peer) =>
      h(
        'li',
        { className: 'row', dataset: { key: peer.unitId, peer: peer.name, online: String(peer.online) } },
        h(
          'span',
          { className: 'row-main' },
          h('strong', { className: 'row-name' }, peer.name),
          h('span', { className: 'row-sub' }, `${peer.address} · ${peer.source === 'dns-sd' ? 'found by DNS-SD' : 'static peer'}`),
          h('span', { className: 'row-sub' }, peer.users.length ? `users: ${peer.users.join(', ')}` : 'no users'),
        ),
        onlineBadge(peer.online),
        peer.inCall ? h('span', { className: 'tag' }, 'in a call') : null,
      ),
    );
    replaceRows(this.peerList, rows);
  }
}
