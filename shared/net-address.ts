/**
 * The network addresses peers announce (a host record's `grpc`): what is well-formed, and what is
 * public. Hosts are strangers: an announced address is only dialled when it is a plain `host:port`
 * (no `unix:`/`dns:` targets, which grpc-js would also accept), and, unless the operator allows
 * private addresses (`swarm`, a LAN, a cluster), only when it is a public IP literal. A host name
 * could resolve to anything, a loopback or private address included, so names count as private.
 */
import { BlockList, isIP } from 'node:net';

/** `host:port` with a port in 1..65535; host an IPv4 literal, `[IPv6]` or a DNS name. */
export interface HostPort { host: string; port: number; family: 4 | 6 | 'name' }

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/** Parses an announced `host:port`; undefined when it is anything else. */
export function parseAnnouncedAddress(address: string): HostPort | undefined {
  if (address.length > 261) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/@]+)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port, family: 6 } : undefined;
  const host = m[2];
  if (isIP(host) === 4) return { host, port, family: 4 };
  if (/^[\d.]+$/.test(host)) return undefined; // looks numeric but is not a dotted quad
  if (host.length > 253 || !host.split('.').every((l) => LABEL.test(l))) return undefined;
  return { host, port, family: 'name' };
}

/** Ranges no public host announces: loopback, private, link-local, CGNAT, unspecified, multicast, documentation. */
const NON_PUBLIC = (() => {
  const b = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
    ['203.0.113.0', 24], ['224.0.0.0', 3],
  ] as const) b.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b:1::', 48]] as const) {
    b.addSubnet(net, bits, 'ipv6');
  }
  return b;
})();

/** Whether `a` is a public IP literal (names are not: they may resolve to a private address). */
export function isPublicAddress(a: HostPort): boolean {
  if (a.family === 'name') return false;
  if (a.family === 4) return !NON_PUBLIC.check(a.host, 'ipv4');
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is checked as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a.host);
  if (mapped) return !NON_PUBLIC.check(mapped[1], 'ipv4');
  return !NON_PUBLIC.check(a.host, 'ipv6');
}

/** Whether a host announcing `address` may be dialled under the given policy. */
export function isDialableAddress(address: string, allowPrivate: boolean): boolean {
  const a = parseAnnouncedAddress(address);
  return a !== undefined && (allowPrivate || isPublicAddress(a));
}

/** Whether `address` is on this machine (127.0.0.0/8, ::1, `localhost`). */
export function isLoopbackAddress(address: string): boolean {
  const a = parseAnnouncedAddress(address);
  if (!a) return false;
  if (a.family === 'name') return a.host.toLowerCase() === 'localhost';
  return a.family === 4 ? a.host.startsWith('127.') : a.host === '::1';
}
