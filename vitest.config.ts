import { defineConfig } from 'vitest/config';

// Three kinds of test, each runnable on its own:
//  unit     — pure logic, no servers; beside the code as *.test.ts
//  services — real Redis Cluster / Kafka / MirrorMaker 2 / mediasoup workers; *.int.test.ts or under test/services
//  browser  — headless Chromium through playwright-core; under test/browser
const unitInclude = ['{lib,edge,core,regions,web,proto,bench}/**/*.test.ts'];
const serviceInclude = ['**/*.int.test.ts', 'test/services/**/*.test.ts'];

export default defineConfig({
  test: {
    // One test file at a time across all projects: service and browser tests each start real servers
    // and Chromium, and two of them at once on 2 cores turn timing into noise.
    maxWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: unitInclude,
          exclude: ['**/node_modules/**', '**/*.int.test.ts'],
        },
      },
      {
        test: {
          name: 'services',
          include: serviceInclude,
          exclude: ['**/node_modules/**'],
          // Real servers on 2 cores: one file at a time, generous timeouts.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
