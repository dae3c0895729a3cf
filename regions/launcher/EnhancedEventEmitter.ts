import { EventEmitter } from 'node:events';

// biome-ignore lint/suspicious/noExplicitAny: event argument tuples are checked per event map
export type EventMap = Record<string, any[]>;

/** An EventEmitter whose events and their arguments are typed (like mediasoup's). */
export class EnhancedEventEmitter<E extends EventMap = EventMap> extends EventEmitter {
  constructor() {
    super();
    this.setMaxListeners(Number.POSITIVE_INFINITY);
  }

  override emit<K extends keyof E & string>(eventName: K, ...args: E[K]): boolean {
    return super.emit(eventName, ...args);
  }

  override on<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    return super.on(eventName, listener as (...args: unknown[]) => void);
  }

  override once<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    return super.once(eventName, listener as (...args: unknown[]) => void);
  }

  override off<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
    return super.off(eventName, listener as (...args: unknown[]) => void);
  }
}
