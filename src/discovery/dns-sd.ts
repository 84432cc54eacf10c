import BonjourService from 'bonjour-service';
import type { Logger } from '../logging/logger.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { PeerCandidate } from '../peers/peer-directory.js';

export const DNS_SD_SERVICE_TYPE = 'intercom';

/** Where discovered candidates go (PeerDirectory implements this). */
export interface CandidateSink {
  addCandidate(candidate: PeerCandidate): void;
  removeCandidate(candidate: Pick<PeerCandidate, 'host' | 'port'>): void;
}

export interface DnsSdOptions {
  unitId: string;
  unitName: string;
  version: string;
  httpPort: number;
  sink: CandidateSink;
  clock: Clock;
  logger: Logger;
  /**
   * How often to ask the network again (default: never). Every unit answers every query by
   * multicast, so periodic queries from every unit grow with the square of the site; a unit that
   * missed an announcement hears from the new unit itself (its presence push on first contact).
   */
  requeryIntervalMs?: number | null;
  /**
   * How long after its first announcement the unit goes on announcing itself unasked (default
   * ANNOUNCE_FOR_MS). Queries are answered all the time.
   */
  announceForMs?: number;
}

/**
 * bonjour-service announces a service at 0, 3, 12, 39, 120, 363, 1092 and 3279 s, and every unit
 * hears every announcement: in a 50-unit site started minutes ago that was 1.6 of the 2.3 packets
 * a second an idle unit received (docs/PERFORMANCE.md). RFC 6762 asks for at least two; the first
 * three (within 12 s) reach the units that were listening, and a unit that missed them is
 * introduced by the first unit that found this one (presence push), so the rest are left out.
 */
export const ANNOUNCE_FOR_MS = 20_000;

/** Picks the address to reach a discovered unit at: IPv4 first (link-local IPv6 needs a zone id). */
function addressOf(service: BonjourService.Service): string | null {
  const addresses = service.addresses ?? [];
  return addresses.find((address) => address.includes('.')) ?? service.referer?.address ?? addresses[0] ?? null;
}

/**
 * Zero-configuration discovery: publishes this unit as `_intercom._tcp` (its HTTP port, with unit id
 * and version in TXT) and feeds every other unit it hears of to the peer directory, which asks it for its info once.
 * bonjour-service shares UDP 5353 with avahi-daemon (both set SO_REUSEADDR), so it runs beside it.
 */
export class DnsSdDiscovery {
  private bonjour: BonjourService.Bonjour | null = null;
  private browser: BonjourService.Browser | null = null;
  private requery: TimerHandle | null = null;
  private announcing: TimerHandle | null = null;
  private service: BonjourService.Service | null = null;
  private readonly announced = new Map<string, { host: string; port: number }>();

  constructor(private readonly options: DnsSdOptions) {}

  start(): void {
    if (this.bonjour) return;
    const { options } = this;
    this.bonjour = new BonjourService.Bonjour(undefined, (error: Error) => {
      options.logger.warn({ err: error }, 'DNS-SD error; static peers still work');
    });
    // The instance name must be unique on the network; unit names need not be, so add the id.
    const instanceName = `${options.unitName} (${options.unitId.slice(0, 8)})`;
    const service = this.bonjour.publish({
      name: instanceName,
      type: DNS_SD_SERVICE_TYPE,
      port: options.httpPort,
      txt: { id: options.unitId, name: options.unitName, v: options.version },
    });
    service.on('error', (error: Error) => options.logger.warn({ err: error }, 'DNS-SD publish failed; static peers still work'));
    this.service = service;
    // bonjour-service has no setting for this: its next announcement finds the service inactive and
    // is not sent (nor any after it); stop() makes it active again so that its goodbye goes out.
    service.once('up', () => {
      this.announcing = options.clock.setTimeout(() => {
        this.announcing = null;
        service.activated = false;
      }, options.announceForMs ?? ANNOUNCE_FOR_MS);
    });
    this.browser = this.bonjour.find({ type: DNS_SD_SERVICE_TYPE });
    this.browser.on('up', (found) => this.onUp(found));
    this.browser.on('down', (found) => this.onDown(found));
    const requeryMs = options.requeryIntervalMs ?? null;
    if (requeryMs !== null) this.requery = options.clock.setInterval(() => this.browser?.update(), requeryMs);
    options.logger.info({ instanceName, port: options.httpPort }, 'DNS-SD: published and browsing');
  }

  stop(): Promise<void> {
    if (this.requery) this.options.clock.clearInterval(this.requery);
    this.requery = null;
    if (this.announcing) this.options.clock.clearTimeout(this.announcing);
    this.announcing = null;
    if (this.service && !this.service.destroyed) this.service.activated = true;
    this.service = null;
    this.browser?.stop();
    this.browser = null;
    const bonjour = this.bonjour;
    this.bonjour = null;
    if (!bonjour) return Promise.resolve();
    return new Promise((resolve) => {
      bonjour.unpublishAll(() => bonjour.destroy(() => resolve()));
    });
  }

  private onUp(service: BonjourService.Service): void {
    if (service.txt?.id === this.options.unitId) return;
    const host = addressOf(service);
    if (!host) return;
    this.announced.set(service.fqdn, { host, port: service.port });
    this.options.logger.debug({ name: service.name, host, port: service.port }, 'DNS-SD: unit announced');
    this.options.sink.addCandidate({ host, port: service.port, source: 'dns-sd' });
  }

  private onDown(service: BonjourService.Service): void {
    const known = this.announced.get(service.fqdn);
    if (!known) return;
    this.announced.delete(service.fqdn);
    this.options.sink.removeCandidate(known);
  }
}

/** Parses the static `peers` config entries ("10.0.0.5:5000", "[fd00::5]:5000", "kitchen.local:5000"). */
export function parseStaticPeer(entry: string): PeerCandidate {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(entry.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) throw new RangeError(`static peer "${entry}" is not host:port`);
  return { host: match[1] ?? match[2], port, source: 'static' };
}
