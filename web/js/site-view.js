import { request } from './api.js';
import { byId, h, replaceRows, setText } from './dom.js';

/**
 * The "Site" card: which units this one trusts and how to add one. On a unit of the site a person
 * asks for a one-time code; on the new unit they type it (and, if it is not found by itself, the
 * other unit's address); the new unit receives the site's secret and appears on every unit. Units
 * seen on the LAN that this one does not trust are listed with the reason. A unit of the site can be
 * removed from here (the site's secret is rotated); units that were off then are listed as needing
 * to re-join.
 */

const REASONS = {
  'another-site': 'a unit of another site',
  'not-in-a-site': 'a unit not yet in a site (add it with a join code)',
  'former-peer': 'was a unit of this site and now refuses this unit',
  'another-version': 'runs another version of pi-intercom',
  'not-a-unit': 'answers, but not as an intercom unit',
  unreachable: 'does not answer',
};

const SOURCES = { 'dns-sd': 'found on the LAN', static: 'configured', inbound: 'contacted this unit' };

export class SiteView {
  constructor({ toast }) {
    this.toast = toast;
    this.site = null;
    this.units = [];
    this.busy = false;
    byId('site-invite').addEventListener('click', () => void this.invite());
    byId('site-join-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.join();
    });
    byId('site-leave').addEventListener('click', () => void this.leave());
  }

  async refresh() {
    try {
      const [site, peers] = await Promise.all([request('GET', '/api/site'), request('GET', '/api/peers')]);
      this.site = site;
      this.units = peers.peers;
    } catch {
      return;
    }
    this.render();
  }

  render() {
    const site = this.site;
    if (!site) return;
    const units = site.units === 0 ? 'This unit is on its own: no other unit shares its site secret yet.' : `This unit is in a site with ${site.units} other unit${site.units === 1 ? '' : 's'}.`;
    const source =
      site.secretSource === 'config'
        ? ' Its site secret is set in its configuration (site.secret).'
        : site.secretSource === 'config-replaced'
          ? ' Its site secret was set in its configuration and changed here since (joined, left or rotated); the change holds until site.secret itself is changed.'
          : '';
    setText(byId('site-summary'), units + source);

    const code = byId('site-code');
    if (site.invitation) {
      code.hidden = false;
      setText(byId('site-code-digits'), site.invitation.code);
      setText(
        byId('site-code-hint'),
        `Type this code into the new unit's panel (Site → Join) within ${Math.ceil(site.invitation.validForMs / 60_000)} min. It works once; ${site.invitation.triesLeft} wrong tries left.`,
      );
    } else {
      code.hidden = true;
    }

    const join = byId('site-join-form');
    const refusal = byId('site-join-refusal');
    join.hidden = site.joinRefusal !== null;
    refusal.hidden = site.joinRefusal === null;
    setText(refusal, site.joinRefusal ? `Joining another site: ${site.joinRefusal}.` : '');
    byId('site-leave').hidden = site.units === 0;

    const unitRows = this.units.map((unit) =>
      h(
        'li',
        { className: 'row', dataset: { key: unit.unitId, unit: unit.name } },
        h('span', { className: 'name' }, unit.name),
        h('span', { className: 'meta' }, unit.online ? 'online' : 'offline'),
        h('button', { type: 'button', className: 'button small quiet', dataset: { control: 'remove' }, onClick: () => void this.remove(unit) }, 'Remove'),
      ),
    );
    replaceRows(byId('site-unit-list'), unitRows);
    byId('no-site-units').hidden = unitRows.length > 0;
    const rejoin = site.needsRejoining ?? [];
    byId('site-rejoin').hidden = rejoin.length === 0;
    replaceRows(
      byId('rejoin-list'),
      rejoin.map((entry) =>
        h('li', { className: 'row', dataset: { key: entry.unitId, unit: entry.name } }, h('span', { className: 'name' }, entry.name), h('span', { className: 'meta' }, `since ${new Date(entry.since).toLocaleString()}`)),
      ),
    );

    const rows = site.untrusted.map((entry) =>
      h(
        'li',
        { className: 'row', dataset: { key: entry.address, reason: entry.reason } },
        h('span', { className: 'name' }, entry.address),
        h('span', { className: 'meta' }, entry.reason === 'former-peer' ? entry.message : `${REASONS[entry.reason] ?? entry.reason} · ${SOURCES[entry.source] ?? entry.source}`),
      ),
    );
    replaceRows(byId('untrusted-list'), rows);
    byId('no-untrusted').hidden = rows.length > 0;
  }

  async invite() {
    try {
      await request('POST', '/api/site/invitation');
    } catch (error) {
      this.toast(error.message);
    }
    await this.refresh();
  }

  async join() {
    if (this.busy) return;
    const codeInput = byId('site-join-code');
    const host = byId('site-join-host').value.trim();
    const code = codeInput.value.replace(/\s+/g, '');
    const result = byId('site-join-result');
    if (!/^[0-9]{6}$/.test(code)) {
      setText(result, 'The code is the 6 digits the other unit shows.');
      codeInput.focus();
      return;
    }
    this.busy = true;
    setText(result, 'Joining…');
    try {
      const answer = await request('POST', '/api/site/join', host ? { code, host } : { code });
      setText(result, `Joined the site of ${answer.joined.name}. This unit uses the site's secret now.`);
      codeInput.value = '';
    } catch (error) {
      setText(result, error.message);
    } finally {
      this.busy = false;
    }
    await this.refresh();
  }

  async remove(unit) {
    if (this.busy) return;
    const question =
      `Remove ${unit.name} from the site? The site gets a new secret, handed to the other units; ${unit.name} can no longer call or be called ` +
      'and must join again with a code to come back. Units that are off now will need to re-join too.';
    if (!window.confirm(question)) return;
    this.busy = true;
    const result = byId('site-remove-result');
    setText(result, `Removing ${unit.name}…`);
    try {
      const answer = await request('POST', '/api/site/remove', { unitId: unit.unitId });
      const left = answer.needsRejoining.map((entry) => entry.name);
      setText(
        result,
        `Removed ${answer.removed.name}: the site has a new secret.` + (left.length > 0 ? ` Could not reach ${left.join(', ')}: ${left.length === 1 ? 'it needs' : 'they need'} to re-join with a code.` : ''),
      );
    } catch (error) {
      setText(result, error.message);
    } finally {
      this.busy = false;
    }
    await this.refresh();
  }

  async leave() {
    if (!window.confirm('Leave the site? The other units will no longer call this one, nor this one them, until it joins again with a code.')) return;
    try {
      await request('POST', '/api/site/leave');
      this.toast('This unit left its site.');
    } catch (error) {
      this.toast(error.message);
    }
    await this.refresh();
  }
}
