import { request } from './api.js';
import { byId, h, replaceRows, setText } from './dom.js';

/**
 * The "Site" card: which units this one trusts and how to add one. On a unit of the site a person
 * asks for a one-time code; on the new unit they type it (and, if it is not found by itself, the
 * other unit's address); the new unit receives the site's secret and appears on every unit. Units
 * seen on the LAN that this one does not trust are listed with the reason.
 */

const REASONS = {
  'another-site': 'a unit of another site',
  'not-in-a-site': 'a unit not yet in a site (add it with a join code)',
  'another-version': 'runs another version of pi-intercom',
  'not-a-unit': 'answers, but not as an intercom unit',
  unreachable: 'does not answer',
};

const SOURCES = { 'dns-sd': 'found on the LAN', static: 'configured', inbound: 'contacted this unit' };

export class SiteView {
  constructor({ toast }) {
    this.toast = toast;
    this.site = null;
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
      this.site = await request('GET', '/api/site');
    } catch {
      return;
    }
    this.render();
  }

  render() {
    const site = this.site;
    if (!site) return;
    const units = site.units === 0 ? 'This unit is on its own: no other unit shares its site secret yet.' : `This unit is in a site with ${site.units} other unit${site.units === 1 ? '' : 's'}.`;
    const source = site.secretSource === 'config' ? ' Its site secret is set in its configuration (site.secret).' : '';
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
    byId('site-leave').hidden = site.secretSource === 'config' || site.units === 0;

    const rows = site.untrusted.map((entry) =>
      h('li', { className: 'row', dataset: { key: entry.address } }, h('span', { className: 'name' }, entry.address), h('span', { className: 'meta' }, `${REASONS[entry.reason] ?? entry.reason} · ${SOURCES[entry.source] ?? entry.source}`)),
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
