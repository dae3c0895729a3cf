import { createServer, type Server } from 'node:http';

/** One finished span as an edge exported it (times in epoch ms). */
export type CollectedSpan = {
  node: string;
  name: string;
  traceId: string;
  startMs: number;
  endMs: number;
  error: boolean;
  attributes: Record<string, string>;
};

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
type OtlpBody = {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: {
      spans?: {
        name: string;
        traceId: string;
        startTimeUnixNano: string;
        endTimeUnixNano: string;
        status?: { code?: number };
        attributes?: { key: string; value: OtlpValue }[];
      }[];
    }[];
  }[];
};

/**
 * A minimal OTLP/HTTP (JSON) trace receiver: the edges export their spans here (OTEL_EXPORTER_OTLP_ENDPOINT),
 * so the benchmark can say where a remote subscriber's time went (cascade.subscribe: the pipe from the
 * owner edge and the local consumer; cascade.firstKeyFrame: until the consumer sent its first key frame).
 */
export class OtlpCollector {
  readonly spans: CollectedSpan[] = [];
  readonly #server: Server;
  readonly endpoint: string;

  static async start(host: string, port: number): Promise<OtlpCollector> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    return new OtlpCollector(server, `http://${host}:${port}`);
  }

  private constructor(server: Server, endpoint: string) {
    this.#server = server;
    this.endpoint = endpoint;
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.#add(JSON.parse(Buffer.concat(chunks).toString()) as OtlpBody);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          // Not OTLP/JSON (the exporter's protobuf flavour, say): refused, so that it shows in the edge's log.
          res.writeHead(400).end();
        }
      });
    });
  }

  #add(body: OtlpBody): void {
    const str = (v: OtlpValue) =>
      v.stringValue ?? (v.intValue !== undefined ? String(v.intValue) : String(v.boolValue));
    for (const rs of body.resourceSpans ?? []) {
      const node =
        rs.resource?.attributes?.find((a) => a.key === 'service.instance.id')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          this.spans.push({
            node,
            name: s.name,
            traceId: s.traceId,
            startMs: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000,
            endMs: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
            error: s.status?.code === 2,
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, str(a.value)])),
          });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
