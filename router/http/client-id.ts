/**
 * Who a request counts against for fair admission (router/admission.ts): its API key when keys are
 * on (by index, so that no key reaches a log or a map key), else its peer address, IPv4 as is and
 * IPv6 by its /64 prefix (one host usually holds a whole /64, so single IPv6 addresses would give
 * one client endless identities). Forwarded-for headers are not trusted: behind a reverse proxy every
 * client shares the proxy's address. Pure.
 */

/** The fairness identity of a request: `key:<index>` with a matched key, else `ip:<address or /64>`. */
export function clientId(keyIndex: number, remoteAddress: string | undefined): string {
  if (keyIndex >= 0) return `key:${keyIndex}`;
  return `ip:${addressGroup(remoteAddress ?? 'unknown')}`;
}

/** IPv4 (also IPv4-mapped IPv6) as is; IPv6 as its first four groups, `a:b:c:d::/64`. */
export function addressGroup(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address.split('%')[0]);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

/** The eight groups of an IPv6 address (lower case, no leading zeros), or undefined when malformed. */
function expandIpv6(address: string): string[] | undefined {
  const halves = address.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? fill : 0 }, () => '0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.replace(/^0+(?=.)/, ''));
}
