/** Resources a test opened, closed in reverse order afterwards even when the test failed. */
export class Cleanup {
  readonly #steps: Array<() => unknown> = [];

  add<T>(resource: T, close: (resource: T) => unknown): T {
    this.#steps.push(() => close(resource));
    return resource;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}
