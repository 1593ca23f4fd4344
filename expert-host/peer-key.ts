/**
 * Who a caller is, for the host's per-peer limits (peer-ledger.ts, kv-share.ts): a key derived from
 * the gRPC peer address (`call.getPeer()`, which grpc-js writes as `${remoteAddress}:${remotePort}`).
 *
 * - Public IPv4: the address without the port. Ports (and so connections) cost an attacker nothing;
 *   an address does. Routers behind one NAT share one key: raise the limits on such hosts.
 * - Public IPv6: the /64 prefix, since one subscriber usually holds a whole /64.
 * - Loopback (127.0.0.0/8, ::1): address and port, i.e. one key per connection. Every loopback
 *   client is a process of this machine, which could exhaust it in other ways anyway; keying by
 *   connection there is what lets a router and several hosts on one machine (`swarmpath swarm`,
 *   the tests) be distinct peers.
 * - Anything else (a unix socket, an unparsable string): the string itself.
 *
 * The protocol carries no authenticated router id: a self-declared id in metadata or in
 * `client_session_id` could be rotated at will, so it never decides which budget a call draws from.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The accounting key of the caller whose grpc-js peer string is `peer`. Pure. */
export function peerKey(peer: string): string {
  const m = /^(.*):(\d{1,5})$/.exec(peer);
  let addr = m ? m[1] : peer;
  const port = m ? m[2] : '';
  if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) addr = mapped[1];
  if (isIPv4(addr)) return addr.startsWith('127.') ? `${addr}:${port}` : addr;
  if (isIPv6(addr)) {
    const groups = expandIPv6(addr);
    if (groups.every((g, i) => g === (i === 7 ? 1 : 0))) return `[::1]:${port}`;
    return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
  }
  return peer;
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded dotted IPv4 tail included). */
function expandIPv6(addr: string): number[] {
  let a = addr.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number);
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}
