import type { Consumer, Kafka } from 'kafkajs';
import { createConsumer, FILE_OFFERS_TOPIC, KeyedProducer } from '../../lib/kafka';
import { Envelope } from '../../proto/gen/meetview/events/v1/events';
import type { FileMeta } from './FileMeta';

/** Mirrored file-offer topics of other regions: `<region>.file-offers`. */
const MIRRORED = new RegExp(`^[a-z][a-z0-9-]*\\.${FILE_OFFERS_TOPIC.replace(/-/g, '\\-')}$`);

/**
 * The `file.offered` log: each upload is produced to the region's file-offers topic (keyed by room);
 * MirrorMaker 2 copies it to the other regions as `<region>.file-offers`, where this consumer writes
 * the metadata into that region's Redis, so the file is known there before anyone asks for it.
 */
export class FileOfferLog {
  readonly #producer: KeyedProducer;
  readonly #consumer: Consumer;
  readonly #region: string;
  readonly #node: string;
  #closed = false;

  constructor(kafka: Kafka, region: string, node: string) {
    this.#producer = new KeyedProducer(kafka);
    // One group per region: the region's edges share its Redis, so one of them writing each offer is enough.
    this.#consumer = createConsumer(kafka, { groupId: `meetview-files-${region}`, maxWaitTimeInMs: 50 });
    this.#region = region;
    this.#node = node;
  }

  async start(onOffer: (meta: FileMeta) => Promise<void>): Promise<void> {
    await this.#producer.connect();
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [MIRRORED], fromBeginning: true });
    await this.#consumer.run({
      eachMessage: async ({ message }) => {
        const meta = message.value ? decode(message.value) : undefined;
        if (!meta || meta.region === this.#region) return;
        await onOffer(meta).catch((err) => {
          console.error(`[files] offer ${meta.id} not recorded: ${(err as Error).message}`);
        });
      },
    });
  }

  async offered(meta: FileMeta): Promise<void> {
    const envelope: Envelope = {
      id: meta.id,
      room: meta.room,
      originRegion: this.#region,
      originNode: this.#node,
      tsMs: meta.ts,
      payload: {
        $case: 'fileOffer',
        value: {
          fileId: meta.id,
          name: meta.name,
          size: meta.size,
          contentType: meta.type,
          sha256: meta.sha256,
          from: { identity: meta.from.identity, name: meta.from.name, region: meta.region, node: meta.node },
        },
      },
    };
    await this.#producer.send(FILE_OFFERS_TOPIC, [
      { key: meta.room, value: Buffer.from(Envelope.encode(envelope).finish()), timestamp: String(meta.ts) },
    ]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#consumer.disconnect().catch(() => undefined);
    await this.#producer.disconnect().catch(() => undefined);
  }
}

function decode(value: Buffer): FileMeta | undefined {
  try {
    const env = Envelope.decode(value);
    if (env.payload?.$case !== 'fileOffer') return undefined;
    const o = env.payload.value;
    return {
      id: o.fileId,
      room: env.room,
      sha256: o.sha256,
      name: o.name,
      size: Number(o.size),
      type: o.contentType,
      from: { identity: o.from?.identity ?? '', name: o.from?.name ?? '' },
      region: env.originRegion,
      node: env.originNode,
      ts: Number(env.tsMs),
    };
  } catch {
    return undefined;
  }
}
