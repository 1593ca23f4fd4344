/**
 * Carries out what decide.ts decided (issue 5): a join or a move of this host between experts,
 * in the order that never leaves an expert without a replica.
 *
 * A move `from → to`: confirm on a fresh view that the move is worth it (a view can miss hosts: a
 * second look before any work), prepare `to` (its shard from the local package when its sha256
 * matches, else fetched from a live replica with FetchShard and verified; then loaded), confirm again
 * that the move is still worth it (else discard), serve and announce `to` next to `from`, wait
 * `settleMs` (so concurrent movers see each other: release.ts), then decide the finish on a fresh
 * view: release `from` (announce without it, drain its sessions, retire it), abort (give `to` back)
 * or hold both and try again at the next check (`finishPending`).
 *
 * Those three confirmations read only the holders of `from` and `to` (`focusedView`, swarm-view.ts),
 * not a whole check's view: a move then costs one full view (the decision), not four.
 *
 * The host-side operations are behind MigrationHost, so the same logic runs against the real host
 * (wired in host.ts) and a fake in unit tests.
 */
import type { Logger } from '../../shared/log.ts';
import { moveStillWorthwhile } from './decide.ts';
import { decideFinish } from './finish.ts';
import type { RebalanceInput } from './types.ts';

/** An expert loaded but not yet served; released by `discard` when a move is abandoned. */
export interface PreparedExpert {
  readonly expertId: string;
  /** Where the verified shard came from, for logs and events. */
  readonly source: string;
}

/** What the migrator needs of the host. */
export interface MigrationHost {
  /** Finds or fetches, verifies (sha256) and loads `expertId`; throws when no copy can be had. */
  prepare(expertId: string, signal: AbortSignal): Promise<PreparedExpert>;
  /** Releases a prepared expert that will not be served. */
  discard(p: PreparedExpert): Promise<void>;
  /** Starts serving a prepared expert (Info and calls see it at once). */
  serve(p: PreparedExpert): void;
  /** Sessions of `expertId` still open on this host. */
  activeSessions(expertId: string): number;
  /** Stops serving `expertId`: its remaining sessions end (routers replay them elsewhere), the model is released. */
  retire(expertId: string): Promise<void>;
  /** Publishes this host's record with `experts` (awaited, bounded). */
  announce(experts: readonly string[]): Promise<void>;
}

/** The decision inputs on a fresh view, self excluded (the migrator adds what it announces). */
export type ViewInput = Omit<RebalanceInput, 'self' | 'random'>;

export interface MigratorInit {
  peerId: string;
  /** Experts announced at start. */
  experts: readonly string[];
  /** Wait between announcing the new expert and deciding the release, ms (>= 2x the view's staleness). */
  settleMs: number;
  /** Longest wait for the old expert's sessions to end before retiring it, ms. */
  drainGraceMs: number;
}

export interface MigratorComponents {
  host: MigrationHost;
  /** A fresh, liveness-checked view of the swarm with measured demand. */
  view(signal: AbortSignal): Promise<ViewInput>;
  /**
   * A fresh view of the holders of `experts` only, with the demand the decision was made on; what a
   * move's confirmations read (default: the full `view`).
   */
  focusedView?(signal: AbortSignal, experts: readonly string[]): Promise<ViewInput>;
  log: Logger;
  /** Machine-readable progress (stdout events), e.g. for the chaos suite. */
  emit?: (event: string, fields: Record<string, unknown>) => void;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type MigrationOutcome =
  | { type: 'joined'; expertId: string; source: string }
  | { type: 'moved'; from: string; to: string; source: string }
  | { type: 'holding'; from: string; to: string }
  | { type: 'aborted'; from: string; to: string; reason: 'filled-meanwhile' | 'filled-after-announce' }
  | { type: 'failed'; expertId: string; error: Error };

export interface Migrator {
  /** The experts this host announces (the ones it is draining excluded). */
  experts(): readonly string[];
  join(expertId: string): Promise<MigrationOutcome>;
  move(from: string, to: string): Promise<MigrationOutcome>;
  /** The move waiting to release its old expert, if any. */
  pending(): { from: string; to: string } | undefined;
  /** Decides the pending move's finish again on a fresh view. */
  finishPending(): Promise<MigrationOutcome | undefined>;
  /** Aborts waits in progress and waits for drains to end. */
  stop(): Promise<void>;
}

const defaultSleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
  signal.addEventListener('abort', done, { once: true });
});

export function createMigrator(init: MigratorInit, c: MigratorComponents): Migrator {
  const sleep = c.sleep ?? defaultSleep;
  const emit = c.emit ?? (() => {});
  const halt = new AbortController();
  let announced = [...init.experts];
  let pendingMove: { from: string; to: string } | undefined;
  const drains = new Map<string, Promise<void>>();
  const confirmView = (from: string, to: string) => (c.focusedView ? c.focusedView(halt.signal, [from, to]) : c.view(halt.signal));

  const setAnnounced = async (experts: string[]) => {
    announced = experts;
    await c.host.announce(experts);
  };

  /** Prepares `id`, or reuses it when this host still serves it (it was draining). */
  const prepare = async (id: string): Promise<PreparedExpert | 'draining'> => {
    if (drains.has(id)) return 'draining';
    return c.host.prepare(id, halt.signal);
  };

  const drainAndRetire = (id: string) => {
    const run = (async () => {
      const until = Date.now() + init.drainGraceMs;
      while (Date.now() < until && c.host.activeSessions(id) > 0 && !halt.signal.aborted) await sleep(100, halt.signal);
      if (announced.includes(id)) return; // taken back meanwhile
      const left = c.host.activeSessions(id);
      await c.host.retire(id);
      c.log.info(`retired expert ${id}`, { sessionsEnded: left });
      emit('expert_retired', { expertId: id, sessionsEnded: left });
    })().catch((err) => c.log.warn(`retiring ${id} failed`, { error: err })).finally(() => drains.delete(id));
    drains.set(id, run);
  };

  const finish = async (from: string, to: string): Promise<MigrationOutcome> => {
    const view = await confirmView(from, to);
    const d = decideFinish({ ...view, selfPeerId: init.peerId, serving: announced, from, to });
    if (d.type === 'hold') {
      pendingMove = { from, to };
      c.log.info(`holding ${from} and ${to}: ${from} has no other replica that will stay`);
      return { type: 'holding', from, to };
    }
    pendingMove = undefined;
    const drop = d.expertId;
    await setAnnounced(announced.filter((e) => e !== drop));
    drainAndRetire(drop);
    if (d.type === 'abort') {
      emit('migration', { type: 'aborted', from, to, reason: 'filled-after-announce' });
      return { type: 'aborted', from, to, reason: 'filled-after-announce' };
    }
    c.log.info(`moved from ${from} to ${to}`);
    emit('migration', { type: 'moved', from, to });
    return { type: 'moved', from, to, source: 'served' };
  };

  return {
    experts: () => [...announced],
    pending: () => (pendingMove ? { ...pendingMove } : undefined),

    async join(expertId) {
      try {
        const p = await prepare(expertId);
        if (p !== 'draining') c.host.serve(p);
        await setAnnounced([...announced, expertId]);
        const source = p === 'draining' ? 'draining' : p.source;
        c.log.info(`joined expert ${expertId}`, { source });
        emit('migration', { type: 'joined', to: expertId, source });
        return { type: 'joined', expertId, source };
      } catch (err) {
        return failed(expertId, err);
      }
    },

    async move(from, to) {
      const abandon = (p?: PreparedExpert | 'draining') => async (): Promise<MigrationOutcome> => {
        if (p && p !== 'draining') await c.host.discard(p);
        c.log.info(`move ${from} → ${to} abandoned: filled meanwhile`);
        emit('migration', { type: 'aborted', from, to, reason: 'filled-meanwhile' });
        return { type: 'aborted', from, to, reason: 'filled-meanwhile' };
      };
      const worthwhile = async () => moveStillWorthwhile({ ...await confirmView(from, to), self: { peerId: init.peerId, experts: announced } }, from, to);
      let p: PreparedExpert | 'draining';
      try {
        if (!await worthwhile()) return await abandon()();
        p = await prepare(to);
      } catch (err) {
        return failed(to, err);
      }
      try {
        if (!await worthwhile()) return await abandon(p)();
        if (p !== 'draining') c.host.serve(p);
        pendingMove = { from, to };
        await setAnnounced([...announced, to]);
        emit('migration', { type: 'announced', from, to, source: p === 'draining' ? 'draining' : p.source });
        await sleep(init.settleMs, halt.signal);
        const out = await finish(from, to);
        return out.type === 'moved' ? { ...out, source: p === 'draining' ? 'draining' : p.source } : out;
      } catch (err) {
        return failed(to, err);
      }
    },

    async finishPending() {
      if (!pendingMove) return undefined;
      try {
        return await finish(pendingMove.from, pendingMove.to);
      } catch (err) {
        return failed(pendingMove.from, err);
      }
    },

    async stop() {
      halt.abort();
      await Promise.all(drains.values());
    },
  };

  function failed(expertId: string, err: unknown): MigrationOutcome {
    const error = err instanceof Error ? err : new Error(String(err));
    c.log.warn(`migration to ${expertId} failed`, { error });
    emit('migration', { type: 'failed', expertId, error: error.message });
    return { type: 'failed', expertId, error };
  }
}
