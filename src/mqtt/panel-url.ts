import os from 'node:os';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/**
 * The address people (and Home Assistant's "Visit" link) reach this unit's panel at: the address
 * HTTP listens on when it is a specific one, else the machine's first LAN IPv4 address (Home
 * Assistant in a container often cannot resolve .local names), else `<hostname>.local`.
 */
export function panelUrl(
  httpHost: string,
  httpPort: number,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
  hostname: string = os.hostname(),
): string {
  const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);
  if (!WILDCARD_HOSTS.has(httpHost)) return `http://${bracket(httpHost)}:${httpPort}/`;
  for (const addresses of Object.values(interfaces)) {
    const lan = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (lan) return `http://${lan.address}:${httpPort}/`;
  }
  return `http://${hostname}.local:${httpPort}/`;
}
