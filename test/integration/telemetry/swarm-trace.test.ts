import { test } from 'vitest';
import assert from 'node:assert/strict';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { startBenchSwarm } from '../../../bench/bench-swarm.ts';
import type { BenchSwarm, SwarmHost } from '../../../bench/bench-swarm.ts';
import { startOtlpReceiver } from './otlp-receiver.ts';
import { parsePrometheusText, sampleValue } from '../../unit/telemetry/prometheus-text.ts';

for (const protocol of ['http/protobuf', 'http/json'] as const) test(`one completion through a real swarm is one trace over OTLP ${protocol} (router request, path choice and stage spans, host session spans as their children), and shows in the metrics`, async () => {
  const model = await synthFixture({ dModel: 32, heads: 2, layers: 1, levels: [1, 1], maxContext: 64 });
  const rx = await startOtlpReceiver();
  let swarm: BenchSwarm | undefined;
  try {
    swarm = await startBenchSwarm({
      modelDir: model, path: ['L0.0', 'L1.0'], replicas: 1, hostArgs: ['--metrics-listen', '127.0.0.1:0'],
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '100' },
    });
    const res = await fetch(`${swarm.http}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hello swarm', max_tokens: 5, temperature: 0 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json() as { usage: { completion_tokens: number } };
    assert.equal(body.usage.completion_tokens, 5);
    const named = (n: string) => rx.spans.filter((s) => s.name === n);
    await rx.until(() => named('POST /v1/completions').length === 1 && named('Session L0.0').length === 1 && named('Session L1.0').length === 1
      && named('stage L0.0').length === 1 && named('stage L1.0').length === 1 && named('route').length === 1);
    const [req] = named('POST /v1/completions');
    assert.equal(req.service, 'swarmpath-router');
    assert.equal(req.parentSpanId, '');
    assert.equal(req.attributes['http.response.status_code'], 200);
    assert.ok(rx.spans.every((sp) => (protocol === 'http/json' ? /json/ : /protobuf/).test(sp.contentType)), `spans arrived as ${protocol}`);
    const [route] = named('route');
    assert.ok(route, 'path choice is a span');
    assert.equal(route.traceId, req.traceId);
    assert.equal(route.parentSpanId, req.spanId);
    assert.equal(route.attributes['swarmpath.path'], 'L0.0,L1.0');
    for (const id of ['L0.0', 'L1.0']) {
      const [stage] = named(`stage ${id}`);
      const [session] = named(`Session ${id}`);
      assert.equal(stage.traceId, req.traceId, `stage ${id} is in the request's trace`);
      assert.equal(stage.parentSpanId, req.spanId);
      assert.equal(stage.service, 'swarmpath-router');
      assert.equal(stage.attributes['swarmpath.decode.steps'], 4, 'prefill, then 4 decode steps for 5 tokens');
      assert.equal(session.traceId, req.traceId, `the host's Session ${id} is in the same trace`);
      assert.equal(session.parentSpanId, stage.spanId, `Session ${id} is the child of stage ${id}`);
      assert.equal(session.service, 'swarmpath-host');
      const host: SwarmHost = swarm.hosts.find((h: SwarmHost) => h.experts.includes(id))!;
      assert.equal(session.instanceId, host.peerId, 'a host reports its peer id as service.instance.id');
      assert.equal(session.attributes['swarmpath.decode.steps'], 4);
      // The host's --metrics-listen endpoint counted the same steps.
      const metricsUrl = String(host.child.ready.metrics);
      const fams = parsePrometheusText(await (await fetch(metricsUrl)).text());
      assert.equal(sampleValue(fams, 'swarmpath_host_steps_total', { expert: id, kind: 'decode' }), 4);
      // Multi-token steps: the session's prefill and the router's probe of the host (a stateless Forward).
      assert.equal(sampleValue(fams, 'swarmpath_host_steps_total', { expert: id, kind: 'prefill' }), 2);
      assert.equal(sampleValue(fams, 'swarmpath_host_rpcs_total', { method: 'Forward', code: 'OK' }), 1, 'one probe');
      assert.equal(sampleValue(fams, 'swarmpath_host_rpcs_total', { method: 'Sessions', code: 'OK' }), 1, 'the session went over one Sessions stream');
      // Its DHT node is connected (to the bootstrap peer at least; sampled every second since it started).
      assert.ok((sampleValue(fams, 'swarmpath_host_libp2p_connections') ?? 0) >= 1, 'the host reports its libp2p connections');
    }
    // The router's /metrics counted the request and its tokens.
    const router = parsePrometheusText(await (await fetch(`${swarm.http}/metrics`)).text());
    assert.equal(sampleValue(router, 'swarmpath_requests_total', { endpoint: '/v1/completions', code: '200' }), 1);
    assert.equal(sampleValue(router, 'swarmpath_tokens_generated_total'), 5);
    for (const id of ['L0.0', 'L1.0']) assert.equal(sampleValue(router, 'swarmpath_host_probes_total', { expert: id, result: 'ok' }), 1, `${id}'s host was probed once`);
    assert.equal(sampleValue(router, 'swarmpath_time_to_first_token_seconds_count', { endpoint: '/v1/completions' }), 1);
    assert.equal(sampleValue(router, 'swarmpath_request_duration_seconds_count', { endpoint: '/v1/completions' }), 1);
  } finally {
    await swarm?.stop();
    await rx.close();
  }
});
