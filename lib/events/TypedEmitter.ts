import { EventEmitter } from 'node:events';

/** Map of event name to the tuple of its arguments. */
export type EventMap = Record<string, unknown[]>;

/**
 * A small typed EventEmitter in the spirit of mediasoup's EnhancedEventEmitter (which mediasoup does not
 * export). `safeEmit` never lets a throwing listener break the emitter's own state machine: the error is
 * reported on the 'listenererror' channel (or to console when nobody listens).
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Rooms may have many listeners (one per peer in the signaling layer).
    this.#emitter.setMaxListeners(Number.POSITIVE_INFINITY);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  removeAllListeners<K extends keyof E & string>(event?: K): this {
    if (event === undefined) this.#emitter.removeAllListeners();
    else this.#emitter.removeAllListeners(event);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /** Emits to every listener; a listener that throws is reported and the others still run. */
  protected safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const listeners = this.#emitter.listeners(event) as ((...a: E[K]) => void)[];
    for (const listener of listeners) {
      try {
        listener(...args);
      } catch (error) {
        if (this.#emitter.listenerCount('listenererror') > 0 && event !== 'listenererror')
          this.#emitter.emit('listenererror', event, error);
        else console.error(`TypedEmitter: listener of "${event}" threw`, error);
      }
    }
    return listeners.length > 0;
  }
}
