import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites start real servers on port 0 and share one Redis; files run in
    // parallel across workers, tests inside a file run in order.
    pool: 'forks',
    maxWorkers: 2,
  },
});
