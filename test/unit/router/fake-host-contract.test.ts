/**
 * The router tests' FakeHost (./fakes.ts) obeys the ExpertClient contract that the real gRPC client
 * and host pass (test/unit/grpc/expert-client-contract.ts, run against a real host in
 * test/integration/host/session-equivalence.test.ts): what the router tests learn from it holds for
 * the real thing.
 */
import { D, FakeHost, toyExpert } from './fakes.ts';
import { expertClientContract } from '../grpc/expert-client-contract.ts';

expertClientContract('router FakeHost', () => ({
  client: () => new FakeHost('contract', ['L0.1']).client(),
  expertId: 'L0.1',
  D,
  reference: async (seq, N) => toyExpert('L0.1', [], { data: seq, dims: [1, N, D] }).data,
  tolerance: 1e-6,
}));
