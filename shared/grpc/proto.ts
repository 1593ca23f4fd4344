/**
 * Loads the wire protocol, proto/swarmpath/v1/expert_host.proto, with @grpc/proto-loader.
 * Field names are camelCase (proto-loader's default), 64-bit integers decode as JS numbers,
 * enums as their names ('FLOAT32'), bytes as Buffers, and defaults are filled in. One load per
 * process: the definition is cached.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/** Root folder of the .proto files (the repository's `proto/`). */
export const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
/** The service file, relative to PROTO_ROOT. */
export const EXPERT_HOST_PROTO = 'swarmpath/v1/expert_host.proto';

/** proto-loader options every swarmpath process uses. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});

let cached: grpc.ServiceDefinition | undefined;

/** The ExpertHost service definition (method paths, serializers), loaded once. */
export function expertHostService(): grpc.ServiceDefinition {
  if (cached) return cached;
  const def = protoLoader.loadSync(EXPERT_HOST_PROTO, PROTO_LOADER_OPTIONS);
  const svc = def['swarmpath.v1.ExpertHost'] as grpc.ServiceDefinition | undefined;
  if (!svc) throw new Error(`service swarmpath.v1.ExpertHost not found in ${EXPERT_HOST_PROTO}`);
  cached = svc;
  return svc;
}

/** A client constructor for ExpertHost (grpc-js generic client). */
export function expertHostClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(expertHostService(), 'ExpertHost');
}
