/**
 * A TCP relay that adds a fixed one-way delay to every byte in both directions, for measuring the
 * pipeline as if its processes were apart (a WAN) on one machine where netem is not available.
 * Order is kept: chunks of one direction are released in arrival order after `oneWayMs` (Node fires
 * timers of equal duration in the order they were set). Used by the decode scenario's `wan_*` keys.
 */
import net from 'node:net';

export interface LatencyProxy {
  /** `127.0.0.1:port` to dial instead of the target. */
  readonly address: string;
  close(): Promise<void>;
}

/** Relays connections on a new loopback port to `target` (`host:port`), each byte delayed by `oneWayMs` each way. */
export function startLatencyProxy(target: string, oneWayMs: number): Promise<LatencyProxy> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(i + 1));
  const sockets = new Set<net.Socket>();
  const delayed = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk) => { setTimeout(() => { if (!to.destroyed) to.write(chunk); }, oneWayMs); });
    from.on('end', () => setTimeout(() => to.end(), oneWayMs));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), oneWayMs));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream);
    delayed(upstream, client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as net.AddressInfo;
      resolve({
        address: `127.0.0.1:${p}`,
        close: () => new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}
