import { readLocalApiToken, LOCAL_TOKEN_HEADER } from '../security/local-api-token.js';
import { UsageError } from './command-runtime.js';

/**
 * `intercom site invite | join CODE [HOST] | leave | remove UNIT | status`: the site commands, run on a unit over
 * ssh. They ask the unit's own running service through its API (on loopback), with the local API
 * token the service keeps in its data directory (so: as root or the service's user, e.g. sudo).
 */

export interface SiteCommandOptions {
  /** The data directory; default: `dataDir` from the unit's configuration. */
  dataDir?: string;
  /** The service's HTTP port; default: `http.port` from the configuration. */
  port?: number;
  json?: boolean;
}

interface LocalApi {
  request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function localApi(options: SiteCommandOptions): Promise<LocalApi> {
  let { dataDir, port } = options;
  let host = '127.0.0.1';
  if (dataDir === undefined || port === undefined) {
    const { loadConfig } = await import('../config/load.js');
    const config = await loadConfig();
    dataDir ??= config.dataDir;
    port ??= config.http.port;
    // A service bound to one address is asked there; one bound to all of them on loopback.
    if (!['0.0.0.0', '::', ''].includes(config.http.host)) host = config.http.host;
  }
  let token: string | null;
  try {
    token = await readLocalApiToken(dataDir);
  } catch (error) {
    throw new UsageError(`cannot read the service's local API token in ${dataDir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); run it with sudo`);
  }
  if (token === null) throw new UsageError(`the intercom service has not started (no local API token in ${dataDir}); start it: sudo systemctl start intercom`);
  const base = host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
  return {
    async request(method, path, body) {
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: { [LOCAL_TOKEN_HEADER]: token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        throw new UsageError(`the intercom service does not answer on ${base} (${(error as Error).message}); is it running? (systemctl status intercom)`);
      }
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { message: text };
      }
      return { status: response.status, body: parsed };
    },
  };
}

function refused(what: string, answer: { status: number; body: Record<string, unknown> }): UsageError {
  return new UsageError(`${what}: ${String(answer.body.message ?? `the service answered ${answer.status}`)} (${String(answer.body.error ?? answer.status)})`);
}

function print(options: SiteCommandOptions, json: unknown, text: string): void {
  process.stdout.write(options.json ? `${JSON.stringify(json)}\n` : `${text}\n`);
}

export async function runSiteInvite(options: SiteCommandOptions): Promise<void> {
  const api = await localApi(options);
  const answer = await api.request('POST', '/api/site/invitation');
  if (answer.status !== 201) throw refused('no code was made', answer);
  const { code, validForMs, triesLeft } = answer.body as { code: string; validForMs: number; triesLeft: number };
  print(
    options,
    { type: 'invitation', code, validForMs, triesLeft },
    `Join code: ${code}\nValid for ${Math.round(validForMs / 60_000)} minutes and ${triesLeft} tries, once.\n` +
      `On the new unit type it into the panel (Site), or run: sudo intercom site join ${code} <address of this unit>`,
  );
}

export async function runSiteJoin(code: string, host: string | undefined, options: SiteCommandOptions): Promise<void> {
  if (!/^[0-9]{6}$/.test(code)) throw new UsageError(`"${code}" is not a join code: it is the 6 digits the other unit shows`);
  const api = await localApi(options);
  const answer = await api.request('POST', '/api/site/join', host === undefined ? { code } : { code, host });
  if (answer.status !== 200) throw refused('not joined', answer);
  const { joined } = answer.body as { joined: { unitId: string; name: string; address: string } };
  print(options, { type: 'joined', ...joined }, `Joined the site of ${joined.name} (${joined.address}). This unit uses the site's secret now; no restart is needed.`);
}

export async function runSiteLeave(options: SiteCommandOptions): Promise<void> {
  const api = await localApi(options);
  const answer = await api.request('POST', '/api/site/leave');
  if (answer.status !== 200) throw refused('still in the site', answer);
  print(options, { type: 'left' }, 'This unit left its site: it has a new secret of its own, and the other units no longer accept it.');
}

export async function runSiteRemove(unit: string, options: SiteCommandOptions): Promise<void> {
  const api = await localApi(options);
  const peers = await api.request('GET', '/api/peers');
  if (peers.status !== 200) throw refused('no answer', peers);
  const list = (peers.body.peers ?? []) as Array<{ unitId: string; name: string }>;
  const matches = list.filter((peer) => peer.unitId === unit || peer.name.toLowerCase() === unit.toLowerCase());
  if (matches.length === 0) throw new UsageError(`no unit "${unit}" in this unit's site; its units: ${list.map((peer) => `${peer.name} (${peer.unitId})`).join(', ') || 'none'}`);
  if (matches.length > 1) throw new UsageError(`"${unit}" names ${matches.length} units; give the id: ${matches.map((peer) => peer.unitId).join(', ')}`);
  const answer = await api.request('POST', '/api/site/remove', { unitId: matches[0]!.unitId });
  if (answer.status !== 200) throw refused('not removed', answer);
  const outcome = answer.body as { removed: { name: string }; rotated: Array<{ name: string }>; needsRejoining: Array<{ name: string; problem: string }> };
  const lines = [
    `Removed ${outcome.removed.name}: the site has a new secret, and ${outcome.removed.name} is refused from now on.`,
    `Units with the new secret: this one${outcome.rotated.map((entry) => `, ${entry.name}`).join('')}.`,
    ...outcome.needsRejoining.map((entry) => `Needs re-joining with a code: ${entry.name} (${entry.problem})`),
  ];
  print(options, { type: 'removed', ...outcome }, lines.join('\n'));
}

export async function runSiteStatus(options: SiteCommandOptions): Promise<void> {
  const api = await localApi(options);
  const answer = await api.request('GET', '/api/site');
  if (answer.status !== 200) throw refused('no answer', answer);
  const site = answer.body as {
    secretSource: string;
    units: number;
    joinRefusal: string | null;
    invitation: { code: string; validForMs: number } | null;
    untrusted: Array<{ address: string; reason: string; message: string }>;
    needsRejoining?: Array<{ name: string; unitId: string }>;
  };
  const lines = [
    `Site secret from: ${site.secretSource}`,
    `Other units of the site: ${site.units}`,
    site.invitation ? `Open join code: ${site.invitation.code} (${Math.round(site.invitation.validForMs / 1000)} s left)` : 'No join code open',
    site.joinRefusal ? `Cannot join another site: ${site.joinRefusal}` : 'May join another site (intercom site join CODE [HOST])',
    ...site.untrusted.map((entry) => (entry.reason === 'former-peer' ? `Refuses this unit: ${entry.address}: ${entry.message}` : `Not trusted: ${entry.address} (${entry.reason})`)),
    ...(site.needsRejoining ?? []).map((entry) => `Needs re-joining (was offline when the site's secret was rotated): ${entry.name} (${entry.unitId})`),
  ];
  print(options, { type: 'site', ...site }, lines.join('\n'));
}
