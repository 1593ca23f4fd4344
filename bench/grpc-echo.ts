/**
 * `grpc_echo_ms`: the round trip of a bare @grpc/grpc-js unary call carrying `bytes` bytes each way
 * to an echo server in another process over loopback. The transport floor a swarm hop is compared with.
 */
import * as grpc from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import { ECHO_PATH } from './grpc-echo-server.ts';
import { spawnReady } from './child-process.ts';

const SERVER = fileURLToPath(new URL('./grpc-echo-server.ts', import.meta.url));
const identity = (b: Buffer): Buffer => b;

export interface EchoBench {
  /** One echo; resolves its round trip in ms. */
  time(): Promise<number>;
  close(): Promise<void>;
}

/** Spawns the echo server and connects; `warmup` calls are made before it resolves. */
export async function openGrpcEcho(bytes: number, warmup = 50): Promise<EchoBench> {
  const server = await spawnReady(process.execPath, [SERVER], { name: 'grpc-echo' });
  const client = new grpc.Client(String(server.ready.grpc), grpc.credentials.createInsecure());
  const payload = Buffer.alloc(bytes, 7);
  const call = (): Promise<void> => new Promise((resolve, reject) => {
    client.makeUnaryRequest(ECHO_PATH, identity, identity, payload, { deadline: Date.now() + 10_000 }, (err, res) => {
      if (err) reject(err);
      else if (!res || res.length !== bytes) reject(new Error(`echo returned ${res?.length} bytes, sent ${bytes}`));
      else resolve();
    });
  });
  try {
    for (let i = 0; i < warmup; i++) await call();
  } catch (err) {
    client.close();
    await server.stop();
    throw err;
  }
  return {
    async time() {
      const t0 = performance.now();
      await call();
      return performance.now() - t0;
    },
    async close() {
      client.close();
      await server.stop();
    },
  };
}
