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
}

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
