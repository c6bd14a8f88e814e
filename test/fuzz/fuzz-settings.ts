// Shared fast-check settings for the property tests in test/fuzz: a fixed seed so CI runs are
// reproducible, a modest run count so the suite stays fast, and two knobs for deeper runs.
//
//   FUZZ_RUNS=20000 npx vitest run test/fuzz          # more cases per property
//   FUZZ_SEED=random npx vitest run test/fuzz         # a fresh seed (printed on failure)

import type { Parameters as FcParameters } from 'fast-check';
import { vi } from 'vitest';

const DEFAULT_SEED = 0x5eed_0009;

function seedFromEnv(): number | undefined {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  if (raw === 'random') return undefined;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer or "random", not ${JSON.stringify(raw)}`);
  return seed;
}

function runsFromEnv(): number | undefined {
  const raw = process.env.FUZZ_RUNS;
  if (raw === undefined || raw === '') return undefined;
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs <= 0) throw new Error(`FUZZ_RUNS must be a positive integer, not ${JSON.stringify(raw)}`);
  return runs;
}

// A deeper run takes longer than the usual 30 s test timeout allows.
if (runsFromEnv() !== undefined) vi.setConfig({ testTimeout: 600_000 });

/**
 * fast-check parameters for one property: `numRuns` cases by default (FUZZ_RUNS raises it),
 * with the fixed seed unless FUZZ_SEED says otherwise.
 */
export function fuzz<T>(numRuns: number): FcParameters<T> {
  const seed = seedFromEnv();
  const runs = runsFromEnv();
  return {
    numRuns: runs === undefined ? numRuns : Math.max(runs, numRuns),
    ...(seed === undefined ? {} : { seed }),
  };
}

/** The outcome of a call that must settle: its value, or what it threw. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Awaits `work`; throws (failing the property) if it has not settled within `ms`, since a hang is a bug. */
export async function settlesWithin<T>(work: Promise<T>, ms: number, what: string): Promise<Settled<T>> {
  const HUNG = Symbol('hung');
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<typeof HUNG>((resolve) => (timer = setTimeout(() => resolve(HUNG), ms)));
  const settled = work.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
  const outcome = await Promise.race([settled, hang]).finally(() => clearTimeout(timer));
  if (outcome === HUNG) throw new Error(`${what} did not settle within ${ms} ms`);
  return outcome;
}
