import {
  InterceptingCall,
  type Interceptor,
  type Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import {
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

// Trace context in gRPC metadata (`traceparent`, `tracestate`), W3C format. Hand-written rather than
// @opentelemetry/instrumentation-grpc: that patches grpc-js through require hooks, which ESM and tsx
// bypass; two interceptors do the same for the calls that matter here.
const propagator = new W3CTraceContextPropagator();
const setter: TextMapSetter<Metadata> = { set: (md, key, value) => md.set(key, value) };
const getter: TextMapGetter<Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, key) => {
    const v = md.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

/**
 * A client span for every unary call made while a span is active (calls outside a traced operation are
 * left alone), with its context in the call's metadata so the server's span joins the same trace.
 * Put it first in the client's interceptors: it reads the caller's active context when the call starts.
 */
export function tracingClientInterceptor(tracer: Tracer): Interceptor {
  return (options, nextCall) => {
    const parent = context.active();
    const def = options.method_definition;
    if (!trace.getSpan(parent) || def.requestStream || def.responseStream)
      return new InterceptingCall(nextCall(options));
    const span = tracer.startSpan(
      def.path,
      { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'grpc' } },
      parent,
    );
    return new InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) => {
        propagator.inject(trace.setSpan(parent, span), metadata, setter);
        next(metadata, {
          onReceiveStatus: (st, nextStatus) => {
            endSpan(span, st.code, st.details);
            nextStatus(st);
          },
        });
      },
    });
  };
}

/** A server span for every call that arrives with a trace context, child of the caller's span. */
export function tracingServerInterceptor(tracer: Tracer): ServerInterceptor {
  return (methodDescriptor, call) => {
    let span: Span | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            const parent = propagator.extract(ROOT_CONTEXT, metadata, getter);
            if (trace.getSpanContext(parent))
              span = tracer.startSpan(
                methodDescriptor.path,
                { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc' } },
                parent,
              );
            mdNext(metadata);
          },
        });
      },
      sendStatus: (st, next) => {
        if (span) endSpan(span, st.code, st.details);
        next(st);
      },
    });
  };
}

function endSpan(span: Span, code: status, details: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  span.end();
}
