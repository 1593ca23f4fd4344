/**
 * The router's metrics: what `GET /metrics` shows. Label values must come from small fixed sets
 * (endpoint paths of SPEC.md section 3, HTTP status codes, error codes of shared/errors.ts, expert
 * ids of the model) so that the number of series stays bounded.
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from './metric-types.ts';
import { LATENCY_BUCKETS_S } from './metric-types.ts';

export interface RouterMetrics {
  /** Every HTTP request answered, by endpoint (`/v1/completions`) and HTTP status (`"200"`). */
  readonly requests: Counter<'endpoint' | 'code'>;
  /** Requests that failed, by endpoint and error code (`NO_LIVE_REPLICA`, `INVALID_ARGUMENT`, …). */
  readonly errors: Counter<'endpoint' | 'code'>;
  /** Seconds from request received to response ended (stream: to `[DONE]`). */
  readonly requestDuration: Histogram<'endpoint'>;
  /** Seconds from request received to the first generated token (streams and non-streams alike). */
  readonly timeToFirstToken: Histogram<'endpoint'>;
  /** Tokens generated (sampled by the router), by model. */
  readonly tokensGenerated: Counter<'model'>;
  /** Prompt tokens prefilled, by model. */
  readonly promptTokens: Counter<'model'>;
  /** Live replicas the router knows for each expert (set on every discovery refresh). */
  readonly liveReplicas: Gauge<'expert'>;
  /** Generation sessions moved to another replica by replaying their history, by expert and reason. */
  readonly failovers: Counter<'expert' | 'reason'>;
  /** Stage calls retried on another replica, by expert and reason (error code or `DEADLINE_EXCEEDED`). */
  readonly retries: Counter<'expert' | 'reason'>;
  /** Seconds of one stage call (one expert step over gRPC, network and queueing included). */
  readonly stageDuration: Histogram<'expert' | 'kind'>;
  /** Checks of a host's output against its expert's manifest probe, by expert and result (`ok`, `mismatch`, `error`). */
  readonly hostProbes: Counter<'expert' | 'result'>;
  /** Real steps recomputed on other replicas (router/cross-check.ts), by expert and result (`ok`, `primary-wrong`, `checker-wrong`, `inconclusive`, `skipped`). */
  readonly crossChecks: Counter<'expert' | 'result'>;
  /** Hosts distrusted for wrong results (a cross-check outvoted them, or they returned NaN/Inf). */
  readonly distrustedHosts: Counter;
  /** Requests being served now. */
  readonly inflight: Gauge;
}

/** Registers the router's instruments in `reg` (once per registry). */
export function routerMetrics(reg: MetricsRegistry): RouterMetrics {
  return Object.freeze({
    requests: reg.counter<'endpoint' | 'code'>('swarmpath_requests_total', 'HTTP requests answered, by endpoint and status code'),
    errors: reg.counter<'endpoint' | 'code'>('swarmpath_errors_total', 'Failed requests, by endpoint and swarmpath error code'),
    requestDuration: reg.histogram<'endpoint'>('swarmpath_request_duration_seconds', 'Request latency, received to response end', LATENCY_BUCKETS_S),
    timeToFirstToken: reg.histogram<'endpoint'>('swarmpath_time_to_first_token_seconds', 'Received to first generated token', LATENCY_BUCKETS_S),
    tokensGenerated: reg.counter<'model'>('swarmpath_tokens_generated_total', 'Tokens generated'),
    promptTokens: reg.counter<'model'>('swarmpath_prompt_tokens_total', 'Prompt tokens prefilled'),
    liveReplicas: reg.gauge<'expert'>('swarmpath_live_replicas', 'Live replicas known for each expert'),
    failovers: reg.counter<'expert' | 'reason'>('swarmpath_failovers_total', 'Sessions moved to another replica by replay'),
    retries: reg.counter<'expert' | 'reason'>('swarmpath_retries_total', 'Stage calls retried on another replica'),
    stageDuration: reg.histogram<'expert' | 'kind'>('swarmpath_stage_duration_seconds', 'One stage call (prefill or decode) as the router saw it', LATENCY_BUCKETS_S),
    inflight: reg.gauge('swarmpath_inflight_requests', 'Requests being served now'),
    crossChecks: reg.counter<'expert' | 'result'>('swarmpath_cross_checks_total', 'Real steps recomputed on other replicas, by result (ok, primary-wrong, checker-wrong, inconclusive, skipped)'),
    distrustedHosts: reg.counter('swarmpath_distrusted_hosts_total', 'Hosts distrusted for wrong results (outvoted by a cross-check, or NaN/Inf output)'),
    hostProbes: reg.counter<'expert' | 'result'>('swarmpath_host_probes_total', "Checks of a host's output against its expert's manifest probe, by result (ok, mismatch, error)"),
  });
}
