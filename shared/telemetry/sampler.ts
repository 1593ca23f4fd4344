/**
 * The sampler named by OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (otel-env.ts), built from the
 * SDK module handed in (so that this file loads nothing while tracing is off).
 */
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { SamplerName } from './otel-env.ts';

type SdkTrace = typeof import('@opentelemetry/sdk-trace');

/** The sampler for `name`; `ratio` is used by the `*traceidratio` samplers. */
export function samplerFor(s: { name: SamplerName; ratio: number }, sdk: SdkTrace): Sampler {
  switch (s.name) {
    case 'always_on': return new sdk.AlwaysOnSampler();
    case 'always_off': return new sdk.AlwaysOffSampler();
    case 'traceidratio': return new sdk.TraceIdRatioBasedSampler(s.ratio);
    case 'parentbased_always_on': return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case 'parentbased_always_off': return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(s.ratio) });
  }
}
