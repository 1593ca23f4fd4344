/**
 * Types of the metrics registry (shared/telemetry/metrics.ts) and the bucket layouts, apart so that
 * the instrument sets (router-metrics.ts, host-metrics.ts) and fakes import no SDK.
 */
import type { Meter } from '@opentelemetry/api';

/** A monotonic counter with labels `L`. */
export interface Counter<L extends string = never> {
  inc(labels: Readonly<Record<L, string>>, n?: number): void;
}
/** A distribution of values (seconds, sizes) with labels `L`. */
export interface Histogram<L extends string = never> {
  observe(labels: Readonly<Record<L, string>>, value: number): void;
}
/** A value that goes up and down, set to its current value, with labels `L`. */
export interface Gauge<L extends string = never> {
  set(labels: Readonly<Record<L, string>>, value: number): void;
}

export interface MetricsRegistry {
  /** The OpenTelemetry meter all instruments come from. */
  readonly meter: Meter;
  counter<L extends string = never>(name: string, help: string): Counter<L>;
  histogram<L extends string = never>(name: string, help: string, buckets: readonly number[]): Histogram<L>;
  gauge<L extends string = never>(name: string, help: string): Gauge<L>;
  /** The current values in Prometheus text format (version 0.0.4). */
  text(): Promise<string>;
  /** Flushes and stops every reader (the OTLP one included). Idempotent. */
  shutdown(): Promise<void>;
}

/** Latency buckets, seconds: from half a millisecond to two minutes. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Batch size buckets. */
export const SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128];

