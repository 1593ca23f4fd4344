/**
 * Host-to-host forwarding, sending side: a chained step's output goes to the next stage's host as a
 * Push (push-inbox.ts receives it), carrying the rest of the path so that host can push on. The
 * router names the targets; a host only pushes to an address it may dial (shared/net-address.ts:
 * public addresses, or any with `--allow-private-addresses`), so a router cannot aim it at the
 * host's own network. One gRPC channel and one Push stream per target, kept for a while (lru-cache;
 * a channel dropped from the cache is closed), the stream opened again after it ends. A push never
 * throws: `onFail` tells why one did not get through (a refusal, or its stream ending soon after),
 * and the router then sends that input itself.
 */
import { LRUCache } from 'lru-cache';
import { createExpertClient, type GrpcExpertClient, type PushStream } from '../shared/grpc/client.ts';
import type { EncodedTensor, PushTargetMsg } from '../shared/grpc/wire-types.ts';
import type { Logger } from '../shared/log.ts';
import { isDialableAddress } from '../shared/net-address.ts';

export interface PusherInit {
  allowPrivateAddresses: boolean;
  /** Channels kept open (default 64). */
  maxChannels?: number;
  /** Largest message sent (the host's own bound). */
  maxMessageBytes?: number;
}

export interface Pusher {
  /** Pushes `hidden` as the step at `position` to `path[0]`, which pushes on to `path[1]`, and so on. */
  push(path: readonly PushTargetMsg[], position: number, hidden: EncodedTensor, onFail: (reason: string) => void): void;
  /** Closes every channel. */
  close(): void;
}

export function createPusher(init: PusherInit, log: Logger): Pusher {
  const channels = new LRUCache<string, { client: GrpcExpertClient; stream?: PushStream }>({
    max: init.maxChannels ?? 64,
    ttl: 10 * 60_000,
    ttlAutopurge: true,
    dispose: (c) => { c.stream?.close(); c.client.close(); },
  });
  const stream = (address: string): PushStream => {
    let c = channels.get(address);
    if (!c) {
      c = { client: createExpertClient(address, init.maxMessageBytes ? { maxMessageBytes: init.maxMessageBytes } : {}) };
      channels.set(address, c);
    }
    if (!c.stream || c.stream.closed) c.stream = c.client.openPushStream();
    return c.stream;
  };
  return {
    push(path, position, hidden, onFail) {
      const [to, ...next] = path;
      const fail = (reason: string) => {
        log.debug('push failed; the router will send the input itself', { address: to.address, reason });
        onFail(reason);
      };
      if (!isDialableAddress(to.address, init.allowPrivateAddresses)) {
        fail(`${to.address} is not an address this host may dial (--allow-private-addresses)`);
        return;
      }
      stream(to.address).push({ sessionId: to.sessionId, tag: to.tag, pushId: to.pushId, stepId: to.stepId, position, hidden, next }, fail);
    },
    close: () => channels.clear(),
  };
}
