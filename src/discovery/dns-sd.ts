import BonjourService from 'bonjour-service';
import type { Logger } from '../logging/logger.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { PeerCandidate } from '../peers/peer-directory.js';
import { AnnouncementSchedule } from './announcement-schedule.js';

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
   * When (clock ms) another unit last probed this one (PresenceProber.lastProbedByPeerAt). Given,
   * the unit owns its announcement schedule once bonjour-service's first announcements are out:
   * it announces itself again only while no unit has probed it for `knownForMs`
   * (AnnouncementSchedule). Not given, bonjour-service announces on its own schedule.
   */
  lastProbedByPeerAt?: () => number;
  /** Whether this unit sees any other unit online: one that sees none asks the network again when it announces. */
  seesAnyUnitOnline?: () => boolean;
  /** How long after its first announcement bonjour-service's schedule is taken over (default 20 s: after its 0, 3 and 12 s). */
  takeOverAfterMs?: number;
  /** How long after the last probe by another unit this unit counts as known to the site (default 30 s, twelve probe periods). */
  knownForMs?: number;
  /** The delay before the second announcement of an unknown unit (default 27 s, then three times longer each, up to an hour). */
  reannounceFirstDelayMs?: number;
  /** How often the unit looks whether an announcement is due (default 5 s; no packet unless one is). */
  announcementCheckMs?: number;
}

/** The multicast-dns socket inside bonjour-service (not in its types): the one its announcements go out on. */
interface MdnsResponder {
  respond(records: unknown[], callback?: (error?: Error | null) => void): void;
}

function responderOf(bonjour: BonjourService.Bonjour): MdnsResponder | null {
  const mdns = (bonjour as unknown as { server?: { mdns?: Partial<MdnsResponder> } }).server?.mdns;
  return mdns && typeof mdns.respond === 'function' ? (mdns as MdnsResponder) : null;
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
  private takeOver: TimerHandle | null = null;
  private announcementCheck: TimerHandle | null = null;
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
    service.once('up', () => this.scheduleTakeOver(service));
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
    if (this.takeOver) this.options.clock.clearTimeout(this.takeOver);
    this.takeOver = null;
    if (this.announcementCheck) this.options.clock.clearInterval(this.announcementCheck);
    this.announcementCheck = null;
    // Inactive after the take-over; bonjour-service says goodbye (TTL 0) only for an active service.
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

  private scheduleTakeOver(service: BonjourService.Service): void {
    const { options } = this;
    const lastProbedByPeerAt = options.lastProbedByPeerAt;
    if (!lastProbedByPeerAt || !this.bonjour) return;
    const responder = responderOf(this.bonjour);
    if (!responder) {
      options.logger.warn('DNS-SD: bonjour-service no longer shows its mDNS socket; it announces this unit on its own schedule');
      return;
    }
    const schedule = new AnnouncementSchedule(options.reannounceFirstDelayMs ?? 27_000, 3, 3_600_000);
    const knownForMs = options.knownForMs ?? 30_000;
    const check = () => {
      const now = options.clock.now();
      if (!schedule.isDue(now, now - lastProbedByPeerAt() < knownForMs)) return;
      responder.respond(service.records(), (error) => {
        if (error) options.logger.debug({ err: error }, 'DNS-SD announcement not sent');
      });
      const alone = options.seesAnyUnitOnline?.() === false;
      if (alone) this.browser?.update();
      options.logger.info({ alone }, 'DNS-SD: no unit has probed this one lately; announced it again');
    };
    this.takeOver = options.clock.setTimeout(() => {
      this.takeOver = null;
      // bonjour-service has no setting for its schedule: its next announcement finds the service
      // inactive and is not sent, nor any after it. Queries are still answered (its registry).
      service.activated = false;
      this.announcementCheck = options.clock.setInterval(check, options.announcementCheckMs ?? 5000);
      check();
    }, options.takeOverAfterMs ?? 20_000);
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
