/**
 * A rogue expert host for the integrity test: honest where it is checked by probes, lying on real
 * work. It joins the swarm as a host of its own (its own libp2p key, record and gRPC endpoint, and it
 * proves that identity), and relays every call to an honest host (`--upstream`): Info and Forward
 * (what probes and cross-checks use) unchanged, Session steps with every output perturbed (±`--perturb` x up to 3 per dimension).
 * Prints a ready event, then one `{"event":"step"}` line per Session step it served.
 *   node test/integration/chaos/rogue-host.ts --upstream H:P --bootstrap MA --model NAME --expert ID… [--perturb X]
 */
import * as grpc from '@grpc/grpc-js';
import { parseFlags } from '../../../shared/cli-args.ts';
import { createAnnouncer } from '../../../shared/dht/announcer.ts';
import { createSwarmNode } from '../../../shared/dht/node.ts';
import { createExpertClient } from '../../../shared/grpc/client.ts';
import { expertHostService } from '../../../shared/grpc/proto.ts';
import { decodeTensor, encodeTensor } from '../../../shared/grpc/tensor-codec.ts';
import type { InfoRequestMsg, SessionRequestMsg, ForwardRequestMsg } from '../../../shared/grpc/wire-types.ts';
import { signInfoNonce } from '../../../shared/identity.ts';
import { emitEvent, silentLogger } from '../../../shared/log.ts';
import type { ExpertSession } from '../../../shared/transport-types.ts';

const { flags } = parseFlags(process.argv.slice(2), {
  upstream: { kind: 'string', help: 'honest host gRPC address' },
  bootstrap: { kind: 'list', help: 'bootstrap multiaddr' },
  model: { kind: 'string', help: 'model name' },
  expert: { kind: 'list', help: 'expert id' },
  perturb: { kind: 'number', help: 'added to every Session output', default: 0.5 },
} as const);
const upstream = createExpertClient(flags.upstream!);
const node = await createSwarmNode({ bootstrap: flags.bootstrap ?? [], log: silentLogger });
await node.start();
const dl = () => ({ deadlineMs: Date.now() + 10_000 });

const server = new grpc.Server();
server.addService(expertHostService(), {
  Info(call: grpc.ServerUnaryCall<InfoRequestMsg, unknown>, cb: grpc.sendUnaryData<unknown>) {
    void (async () => {
      const i = await upstream.info(dl());
      const sig = await signInfoNonce(async (d) => node.privateKey.sign(d), call.request.nonce ?? Buffer.alloc(0));
      cb(null, { ...i, peerId: node.peerId, identitySignature: Buffer.from(sig ?? []) });
    })().catch((err) => cb(err));
  },
  Forward(call: grpc.ServerUnaryCall<ForwardRequestMsg, unknown>, cb: grpc.sendUnaryData<unknown>) {
    const hidden = decodeTensor(call.request.hidden);
    upstream.forward(call.request.expertId, hidden, dl())
      .then((out) => cb(null, { hidden: encodeTensor(out) }), (err) => cb(err));
  },
  Session(call: grpc.ServerDuplexStream<SessionRequestMsg, unknown>) {
    let session: ExpertSession | undefined;
    let chain = Promise.resolve();
    call.on('data', (msg: SessionRequestMsg) => {
      chain = chain.then(async () => {
        if (msg.kind === 'open' && msg.open) {
          session = await upstream.openSession(msg.open.expertId, msg.open.maxLength, dl());
          call.write({ opened: { sessionId: 'rogue', kvReservedBytes: 0 } });
        } else if (msg.kind === 'step' && msg.step && session) {
          const out = await session.step(decodeTensor(msg.step.hidden), msg.step.position, dl());
          // Not a constant shift (a layer norm downstream would undo it): a different offset per dimension.
          const lied = { data: out.data.map((x, i) => x + flags.perturb * ((i % 7) - 3)), dims: out.dims };
          emitEvent('step', { position: msg.step.position });
          call.write({ step: { stepId: msg.step.stepId, hidden: encodeTensor(lied), length: msg.step.position + out.dims[1] } });
        } else if (msg.kind === 'close') {
          session?.close();
          call.end();
        }
      }).catch((err) => { call.destroy(err); });
    });
    call.on('end', () => { session?.close(); call.end(); });
  },
  FetchShard(call: grpc.ServerWritableStream<unknown, unknown>) {
    call.destroy(Object.assign(new Error('no shards here'), { code: grpc.status.UNIMPLEMENTED }));
  },
});
const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
const address = `127.0.0.1:${port}`;
const announcer = createAnnouncer({
  ttlS: 60,
  record: {
    model: flags.model!, experts: flags.expert ?? [], grpc: address, version: 'rogue', device: 'cpu',
    kvCapacityBytes: 1 << 30, kvFreeBytes: 1 << 30, queueDepth: 0, throughput: 1e6, auto: false,
  },
}, { node, log: silentLogger });
await announcer.start();
process.once('SIGTERM', () => { void announcer.stop().then(() => node.stop()).finally(() => process.exit(0)); });
emitEvent('ready', { role: 'rogue', peerId: node.peerId, grpc: address, experts: flags.expert ?? [] });
