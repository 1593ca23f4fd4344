/**
 * Fair sharing of the router's generation slots between clients (an API key, or a client address
 * when keys are off): pure decisions over counts, no timers, no I/O; router/admission.ts keeps the
 * queues and timers around them.
 *
 * A client's fair share is max(1, floor((maxConcurrent − spare) / active clients)) running
 * generations, counting itself; `spare` is `spareSlots` (at most maxConcurrent − 1). Up to its share
 * a client may take any free slot; beyond it only while more than `spare` slots stay free, so that a
 * newcomer starts at once instead of waiting for someone's long stream to end. A client that holds
 * (running + waiting) its share plus `maxQueuePerClient` is refused, as is anyone while `maxQueue`
 * requests wait in all. A freed slot goes to a waiting client under its share, round-robin in the
 * order given (the admission moves a served client to the back), else, while more than `spare` slots
 * are free, to the first waiting client.
 */

export interface FairLimits {
  /** Generations running at once, all clients together (>= 1). */
  maxConcurrent: number;
  /** Requests waiting for a slot, all clients together. */
  maxQueue: number;
  /** Requests one client may have waiting beyond its share. */
  maxQueuePerClient: number;
  /** Slots a client beyond its fair share leaves free for others. */
  spareSlots: number;
}

/** One client's requests now. */
export interface ClientLoad {
  readonly id: string;
  readonly running: number;
  readonly waiting: number;
}

/** Totals over every client. */
export interface Totals {
  readonly running: number;
  readonly waiting: number;
}

export type EntryDecision =
  | { type: 'run' }
  | { type: 'wait' }
  | { type: 'refuse'; reason: 'client' | 'queue'; share: number };

export type NextDecision = { type: 'admit'; id: string } | { type: 'hold' };

/** Spare slots as configured, leaving at least one slot that a client may fill. */
export function spareOf(l: FairLimits): number {
  return Math.max(0, Math.min(l.spareSlots, l.maxConcurrent - 1));
}

/** Running generations a client may hold while `activeClients` (itself included) have requests. */
export function fairShare(l: FairLimits, activeClients: number): number {
  return Math.max(1, Math.floor((l.maxConcurrent - spareOf(l)) / Math.max(1, activeClients)));
}

function mayTakeSlot(l: FairLimits, free: number, running: number, share: number): boolean {
  return free > 0 && (running < share || free > spareOf(l));
}

/**
 * A new request of `client` (its load before this request): run now, wait, or be refused.
 * `activeClients` counts clients with a running or waiting request, this one included.
 */
export function decideEntry(l: FairLimits, totals: Totals, client: ClientLoad, activeClients: number): EntryDecision {
  const share = fairShare(l, activeClients);
  // A client's own earlier waiters go first (they were not admissible, so neither is this one).
  if (client.waiting === 0 && mayTakeSlot(l, l.maxConcurrent - totals.running, client.running, share)) return { type: 'run' };
  if (client.running + client.waiting >= share + l.maxQueuePerClient) return { type: 'refuse', reason: 'client', share };
  if (totals.waiting >= l.maxQueue) return { type: 'refuse', reason: 'queue', share };
  return { type: 'wait' };
}

/** Who gets a free slot now; `clients` in round-robin order, each with `waiting` > 0 or not. */
export function pickNext(l: FairLimits, totals: Totals, clients: readonly ClientLoad[]): NextDecision {
  const free = l.maxConcurrent - totals.running;
  if (free <= 0) return { type: 'hold' };
  const share = fairShare(l, clients.length);
  let over: ClientLoad | undefined;
  for (const c of clients) {
    if (c.waiting === 0) continue;
    if (c.running < share) return { type: 'admit', id: c.id };
    over ??= c;
  }
  return over && mayTakeSlot(l, free, over.running, share) ? { type: 'admit', id: over.id } : { type: 'hold' };
}
