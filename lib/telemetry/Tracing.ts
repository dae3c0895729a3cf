import { context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

export interface TracingOptions {
  /** `service.name` of the spans (e.g. meetview-edge). */
  service: string;
  /** This process's node id (`service.instance.id`) and region, on every span. */
  node: string;
  region: string;
  /**
   * Where spans go. Default: OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, else nowhere (spans are made but not recorded).
   */
  exporter?: SpanExporter;
  /** Export each span as it ends (tests), instead of in batches. */
  processor?: SpanProcessor;
}

let contextManagerSet = false;

/**
 * One process's tracer provider, owned by its node (an edge makes one, and shuts it down on close). It is
 * not registered globally: the node hands its `tracer` to the parts that make spans, so two nodes in one
 * process (tests) keep their own resource. The async context manager is process-wide (set once), so a span
 * made active in one async function is the parent of spans made by what it awaits, gRPC calls included.
 */
export class Tracing {
  readonly tracer: Tracer;
  readonly #provider: TracerProvider;

  constructor(options: TracingOptions) {
    if (!contextManagerSet) {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      contextManagerSet = true;
    }
    const env = process.env;
    const exporter =
      options.exporter ??
      (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        ? new OTLPTraceExporter()
        : undefined);
    const processors: SpanProcessor[] = options.processor
      ? [options.processor]
      : exporter
        ? [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 })]
        : [];
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': options.service,
        'service.instance.id': options.node,
        'meetview.region': options.region,
      }),
      spanProcessors: processors,
    });
    this.tracer = this.#provider.getTracer('meetview');
  }

  /** Exports what is buffered. */
  forceFlush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Exports what is buffered and stops. */
  async shutdown(): Promise<void> {
    await this.#provider
      .shutdown()
      .catch((err: Error) => console.error(`[tracing] shutdown: ${err.message}`));
  }
}
