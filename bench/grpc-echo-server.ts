/**
 * A bare @grpc/grpc-js unary echo server, run as its own process by the benchmark (the transport
 * floor: `grpc_echo_ms`). One method, `/swarmpath.bench.Echo/Echo`, bytes in, the same bytes out,
 * no protobuf. Prints `{"event":"ready","grpc":"127.0.0.1:PORT"}` on stdout; exits on SIGTERM.
 */
import * as grpc from '@grpc/grpc-js';

export const ECHO_PATH = '/swarmpath.bench.Echo/Echo';

const identity = (b: Buffer): Buffer => b;

/** Starts the echo server on `host:port` (0 picks a port) and resolves its address and a stop function. */
export async function startEchoServer(hostPort = '127.0.0.1:0'): Promise<{ address: string; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService({
    Echo: {
      path: ECHO_PATH, requestStream: false, responseStream: false,
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    },
  }, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const s = await startEchoServer(process.argv[2] ?? '127.0.0.1:0');
  process.stdout.write(JSON.stringify({ event: 'ready', role: 'echo', grpc: s.address }) + '\n');
  process.once('SIGTERM', () => { void s.stop().then(() => process.exit(0)); });
  process.once('SIGINT', () => { void s.stop().then(() => process.exit(0)); });
}
