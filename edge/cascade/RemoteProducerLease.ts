import type { types } from 'mediasoup';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import type { NodeRef } from '../../proto/gen/meetview/cascade/v1/cascade';

export type RemoteProducerCloseReason =
  /** The owner closed the producer. */
  | 'producerclosed'
  /** The peer edge (origin or relay) stopped answering, or its stream failed. */
  | 'peerlost'
  /** The peer closed the pipe (its room closed). */
  | 'pipeclosed'
  /** The local room closed. */
  | 'roomclosed'
  /** The local piped producer was closed by someone else on this edge. */
  | 'localclosed'
  | 'managerclosed';

export type RemoteProducerLeaseEvents = {
  /** The remote producer is gone for this lease's holder (not fired on release()). */
  close: [RemoteProducerCloseReason];
};

/** What the PipeManager lends: the ops a lease may ask of the producer it shares. */
export interface RemoteProducerHandle {
  release(lease: RemoteProducerLease): void;
  requestKeyFrame(): Promise<void>;
  setPreferredLayers(lease: RemoteProducerLease, layers: types.ConsumerLayers | undefined): Promise<void>;
}

/**
 * One user's hold on a remote producer piped into a local room (PipeManager.acquire()). The local
 * producer has the remote producer's id, so the holder consumes it like any producer of the room.
 * release() gives the hold back; the last release unpipes the producer, and the pipe with it when it
 * carried nothing else. 'close' tells the holder the producer went away without it asking.
 */
export class RemoteProducerLease extends TypedEmitter<RemoteProducerLeaseEvents> {
  readonly room: string;
  /** Same id as on the owner edge, and as the local (piped) producer. */
  readonly producerId: string;
  readonly kind: types.MediaKind;
  /** The edge the pipe goes to (the origin or a relay). */
  readonly peer: NodeRef;
  /** The owner's producer appData (owner peerId, source, …). */
  readonly appData: Record<string, unknown>;
  readonly #handle: RemoteProducerHandle;
  #layers: types.ConsumerLayers | undefined;
  #closed = false;

  constructor(init: {
    room: string;
    producerId: string;
    kind: types.MediaKind;
    peer: NodeRef;
    appData: Record<string, unknown>;
    handle: RemoteProducerHandle;
  }) {
    super();
    this.room = init.room;
    this.producerId = init.producerId;
    this.kind = init.kind;
    this.peer = init.peer;
    this.appData = init.appData;
    this.#handle = init.handle;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The layers this holder wants at most (undefined: no wish). */
  get preferredLayers(): types.ConsumerLayers | undefined {
    return this.#layers;
  }

  /** Gives the hold back. Idempotent. */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.release(this);
  }

  /** Asks the owner for a key frame now (a new local viewer), besides the RTCP PLI that also crosses. */
  async requestKeyFrame(): Promise<void> {
    if (this.#closed) return;
    await this.#handle.requestKeyFrame();
  }

  /** The highest layers this holder's viewers want; the owner gets the highest over every holder. */
  async setPreferredLayers(layers: types.ConsumerLayers | undefined): Promise<void> {
    if (this.#closed) return;
    this.#layers = layers;
    await this.#handle.setPreferredLayers(this, layers);
  }

  /** Called by the PipeManager when the producer went away. */
  ended(reason: RemoteProducerCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.safeEmit('close', reason);
  }
}
