/**
 * The test suite (vitest): two projects.
 * - `unit`: test/unit, pure logic and in-memory fakes; files run in parallel workers.
 * - `integration`: test/integration, real child processes (`node cli/main.ts …`), libp2p, gRPC and
 *   onnxruntime, each file in a forked process, two files at a time: most of their time is spent
 *   waiting on children starting and on timers, so a second file uses the core the first leaves idle
 *   (measured on 2 cores: 346 s for the whole suite one file at a time, 215 s two at a time).
 * - `integration-serial`: the files that measure recovery against a product bound (a killed
 *   expert re-hosted within 15 s, a migration's quiet window, a rogue host struck off in time), and
 *   the DHT's per-operation message counts (slow answers on a loaded machine make a lookup ask more
 *   peers: 28 streams for a provide once, against 22-26 otherwise), run alone, after the others, so
 *   that no other file shares the cores with them.
 * Each group runs after the one before (sequence.groupOrder): unit, integration, integration-serial.
 *
 * `npm test` starts vitest through bin/run-node.js, so the workers (forks of that Node) and the
 * children they spawn with `process.execPath` run on a Node that strips types (>= 22.18).
 */
import { defineConfig } from 'vitest/config';

/** Files that run alone: each asserts a recovery bound that a second file's load would distort. */
const SERIAL = [
  'test/integration/chaos/chaos-short.test.ts',
  'test/integration/chaos/migration.test.ts',
  'test/integration/chaos/rogue-host.test.ts',
  'test/integration/dht/operation-cost.test.ts',
];

/** What every integration file needs, whichever group runs it. */
const integration = {
  // Every test swarm runs on loopback: its routers and hosts must dial each other's 127.0.0.1
  // addresses, which they refuse by default (shared/net-address.ts). Spawned children inherit it.
  env: { SWARMPATH_ALLOW_PRIVATE_ADDRESSES: '1' },
  pool: 'forks',
  // The longest tests (a chaos run with a kill plan, a host migration with up to 45 s of
  // waits, 32 DHT nodes settling) take 25-45 s on 2 cores, and hooks start whole swarms. A
  // limit of a few times that ends a hang without failing a slow run.
  testTimeout: 240_000,
  hookTimeout: 240_000,
} as const;

export default defineConfig({
  test: {
    // Every test on its own line, with its annotations (the measurements the DHT tests report); the
    // run closes with the "Tests  N passed (N)" summary, and exits non-zero on any failure.
    reporters: ['verbose'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // One worker per core (vitest's default leaves one core idle: a single worker on 2 cores).
          maxWorkers: '100%',
          // The slowest unit test takes about 0.8 s alone; vitest's default 5 s leaves little room
          // when parallel workers share 2 busy cores.
          testTimeout: 15_000,
          // Group 1, not 0: vitest runs a group-0 project that ends up with one worker after every
          // numbered group, which would put the unit tests after the integration tests.
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...integration,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: SERIAL,
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          ...integration,
          name: 'integration-serial',
          include: SERIAL,
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
