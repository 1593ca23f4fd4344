/**
 * A hostile peer for integration tests: a gRPC client built only from proto/ (its own proto-loader
 * options, nothing from shared/grpc), on a connection of its own (a local subchannel pool, so that
 * two peers in one test process never share a TCP connection and the host sees two loopback ports,
 * i.e. two peers), plus the host's resident memory read from /proc.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
const def = protoLoader.loadSync('swarmpath/v1/expert_host.proto', { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] });
const Ctor = (grpc.loadPackageDefinition(def) as any).swarmpath.v1.ExpertHost as grpc.ServiceClientConstructor;

export type RawClient = any;

/** A client with its own connection to `address`. */
export function rawPeer(address: string): RawClient {
  return new Ctor(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_send_message_length': 64 << 20,
    'grpc.max_receive_message_length': 64 << 20,
  });
}

/** A float32 proto tensor of `dims` with deterministic values. */
export function f32(dims: number[], seed = 1): { dtype: string; shape: number[]; data: Buffer } {
  const n = dims.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n).map((_, i) => Math.sin(seed + i * 0.37));
  return { dtype: 'FLOAT32', shape: dims, data: Buffer.from(a.buffer) };
}

/** A unary call; resolves the response or rejects the ServiceError. */
export function unary(client: RawClient, method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) => client[method](req, { deadline: new Date(Date.now() + 10_000) }, (e: any, r: any) => (e ? reject(e) : resolve(r))));
}

export interface RawSession {
  call: grpc.ClientDuplexStream<any, any>;
  /** The first reply (`opened`), or the status that ended the stream before it. */
  first: Promise<{ type: 'reply'; msg: any } | { type: 'status'; code: number; details: string }>;
  /** The stream's final status (OK included). */
  ended: Promise<{ code: number; details: string }>;
  /** Replies received so far. */
  replies: any[];
}

/** Starts a Session stream and writes `msgs` at once (a pipelining client); `read: false` reads no replies. */
export function rawSession(client: RawClient, msgs: unknown[], opts: { read?: boolean } = {}): RawSession {
  const call = client.Session() as grpc.ClientDuplexStream<any, any>;
  const replies: any[] = [];
  let settleFirst: (v: Awaited<RawSession['first']>) => void = () => {};
  const first: RawSession['first'] = new Promise((r) => { settleFirst = r; });
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('error', (e: any) => { settleFirst({ type: 'status', code: e.code, details: e.details }); resolve({ code: e.code, details: e.details }); });
    call.on('status', (s) => { if (s.code === grpc.status.OK) { settleFirst({ type: 'status', code: 0, details: s.details }); resolve({ code: 0, details: s.details }); } });
  });
  if (opts.read !== false) call.on('data', (m) => { replies.push(m); if (replies.length === 1) settleFirst({ type: 'reply', msg: m }); });
  for (const m of msgs) call.write(m);
  return { call, first, ended, replies };
}

/** Resident memory of process `pid`, bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}
