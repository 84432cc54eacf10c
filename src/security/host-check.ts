import os from 'node:os';

/**
 * Which names a request may be addressed to (its Host header): this unit's own. A web page that
 * rebinds its own DNS name to a unit's address (DNS rebinding) reaches the unit with its own name
 * in the Host header, and a host that relays units' requests reaches a unit with the relay's
 * address there; both are refused. Unit-to-unit signatures cover the Host as well, so a relay
 * cannot rewrite it either (src/security/peer-auth.ts).
 *
 * A unit's own names: localhost, its unit name as a host name and that name under .local (mDNS),
 * the machine's host name (and under .local), and every address of its network interfaces (read
 * again every few seconds: DHCP changes them). Names a reverse proxy or a port forward uses are
 * added with http.allowedHosts. The port is not compared: a browser's own Host for a rebinding page
 * carries the attacker's name whatever the port, and port forwards (QEMU, NAT) change it.
 */

export interface HostPolicyOptions {
  unitName: string;
  /** http.allowedHosts: further names or addresses (a reverse proxy's, a port forward's). */
  allowedHosts?: readonly string[];
  /** The machine's host name (default os.hostname). */
  hostname?: () => string;
  /** Addresses of this machine's interfaces (default from os.networkInterfaces). */
  interfaceAddresses?: () => string[];
  /** Monotonic milliseconds, for re-reading the interfaces (default performance.now). */
  now?: () => number;
}

const INTERFACE_REFRESH_MS = 5_000;

/** "front door" -> "front-door": the host name a unit's name gives (as the image names the machine). */
export function hostLabelFor(unitName: string): string {
  return unitName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** The host part of a Host header, lower case, without port, brackets, zone or trailing dot; null when it is not one. */
export function hostOfHeader(header: string | undefined): string | null {
  if (header === undefined) return null;
  const value = header.trim().toLowerCase();
  let host: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return null;
    const rest = value.slice(end + 1);
    if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return null;
    host = value.slice(1, end);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0 && !/^[0-9]{1,5}$/.test(value.slice(colon + 1))) return null;
    host = colon >= 0 ? value.slice(0, colon) : value;
    if (host.includes(':')) return null;
  }
  host = host.replace(/%.*$/, '').replace(/\.$/, '');
  return host === '' ? null : host;
}

function defaultInterfaceAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .map((address) => address.address);
}

function bareAddress(address: string): string {
  return address.toLowerCase().replace(/%.*$/, '').replace(/^::ffff:(?=[0-9.]+$)/, '');
}

export class HostPolicy {
  private readonly names: Set<string>;
  private addresses = new Set<string>();
  private addressesReadAt = -Infinity;
  private readonly interfaceAddresses: () => string[];
  private readonly now: () => number;

  constructor(private readonly options: HostPolicyOptions) {
    this.interfaceAddresses = options.interfaceAddresses ?? defaultInterfaceAddresses;
    this.now = options.now ?? (() => performance.now());
    const machine = (options.hostname ?? os.hostname)().toLowerCase();
    const label = hostLabelFor(options.unitName);
    const names = ['localhost', '127.0.0.1', '::1', machine, `${machine}.local`, machine.split('.')[0]];
    if (label !== '') names.push(label, `${label}.local`);
    for (const allowed of options.allowedHosts ?? []) {
      const host = hostOfHeader(allowed);
      if (host !== null) names.push(host);
    }
    this.names = new Set(names.filter((name) => name !== '' && name !== '.local'));
  }

  /** Whether a request with this Host header is addressed to this unit. */
  allows(hostHeader: string | undefined): boolean {
    const host = hostOfHeader(hostHeader);
    if (host === null) return false;
    if (this.names.has(host)) return true;
    return this.ownAddresses().has(bareAddress(host));
  }

  /** The names this unit answers to (for the refusal's message). */
  ownNames(): string[] {
    return [...this.names];
  }

  private ownAddresses(): Set<string> {
    const now = this.now();
    if (now - this.addressesReadAt >= INTERFACE_REFRESH_MS) {
      this.addresses = new Set(this.interfaceAddresses().map(bareAddress));
      this.addressesReadAt = now;
    }
    return this.addresses;
  }
}
