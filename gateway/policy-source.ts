// Holds the live access policy and reloads POLICY_FILE when it changes (a directory watch,
// debounced, with a slow poll behind it) or on request (SIGHUP). A broken file never
// replaces a good policy: the last good one stays in force and every problem is logged.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parsePolicy, PolicyError, type Policy } from '../auth/policy.js';
import type { Logger } from './logger.js';

/** The outcome of one reload attempt. */
export type PolicyReloadResult =
  | { status: 'reloaded'; rules: number }
  | { status: 'unchanged' }
  | { status: 'rejected'; problems: readonly string[] };

/** The policy in force, and how to refresh it. */
export interface PolicySource {
  /** The policy in force now; cheap, called on every decision. */
  current(): Policy;
  /** Reads the file again; a valid, changed file replaces the policy. Never throws. */
  reload(trigger?: string): Promise<PolicyReloadResult>;
  /** Stops watching. */
  close(): void;
}

export interface PolicySourceOptions {
  /** POLICY_FILE. */
  file: string;
  logger: Logger;
  /** Watch the file and reload by itself. Default true. */
  watch?: boolean;
  /** Quiet time after the last file event before reading, so a half-written file is not read. Default 250. */
  debounceMs?: number;
  /**
   * A slow poll behind the watch: directory watches miss changes on some network and overlay
   * file systems. Default 5000; 0 turns it off.
   */
  pollMs?: number;
}

/** A fixed policy (tests, `overrides.policy`): nothing to reload. */
export function createStaticPolicySource(policy: Policy): PolicySource {
  return {
    current: () => policy,
    reload: async () => ({ status: 'unchanged' }),
    close: () => undefined,
  };
}

/**
 * Loads `file` (throws PolicyError listing every problem when the first load fails: the
 * gateway must not start without a policy) and keeps it current.
 */
export async function createPolicySource(options: PolicySourceOptions): Promise<PolicySource> {
  const { file, logger, debounceMs = 250, pollMs = 5000 } = options;
  const source = `policy file ${file}`;
  const first = await readFile(file, 'utf8');
  let policy = parsePolicy(first, source);
  let digest = sha256(first);
  // Why the file as it stands now was refused, so a later SIGHUP can say so again.
  let rejection: { digest: string; problems: readonly string[] } | undefined;
  let closed = false;
  // Reloads run one at a time: a SIGHUP during a watch-triggered reload waits its turn.
  let queue: Promise<unknown> = Promise.resolve();

  async function load(trigger: string): Promise<PolicyReloadResult> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const problems = [`cannot read ${file}: ${(error as Error).message}`];
      logger.error({ file, trigger, problems }, 'policy reload rejected; the last good policy stays in force');
      return { status: 'rejected', problems };
    }
    const next = sha256(text);
    // An operator who sent SIGHUP deserves an answer; the watch and poll stay quiet.
    const asked = trigger !== 'poll' && trigger !== 'file change';
    if (next === digest && rejection?.digest === next) {
      // The watcher already refused this very file: "unchanged" would read as "all is well".
      const { problems } = rejection;
      if (asked) logger.error({ file, trigger, problems }, 'policy reload rejected; the last good policy stays in force');
      return { status: 'rejected', problems };
    }
    if (next === digest) {
      if (asked) logger.info({ file, trigger, rules: policy.rules.length }, 'policy unchanged');
      return { status: 'unchanged' };
    }
    try {
      policy = parsePolicy(text, source);
    } catch (error) {
      const problems = error instanceof PolicyError ? error.problems : [(error as Error).message];
      // The digest is kept, so a broken file is logged once per change, not on every poll.
      digest = next;
      rejection = { digest: next, problems };
      logger.error({ file, trigger, problems }, 'policy reload rejected; the last good policy stays in force');
      return { status: 'rejected', problems };
    }
    digest = next;
    rejection = undefined;
    logger.info({ file, trigger, rules: policy.rules.length }, 'policy reloaded');
    return { status: 'reloaded', rules: policy.rules.length };
  }

  const reload = (trigger = 'request'): Promise<PolicyReloadResult> => {
    const run = queue.then(() => load(trigger));
    queue = run.catch(() => undefined);
    return run;
  };

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  if (options.watch ?? true) {
    const name = basename(file);
    const schedule = (): void => {
      if (closed) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload('file change'), debounceMs);
      debounce.unref();
    };
    try {
      // The directory, not the file: editors and Kubernetes ConfigMaps replace the file (rename,
      // symlink swap), which silently ends a watch on the old inode.
      watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith('..')) schedule();
      });
      watcher.on('error', (error) => logger.warn({ file, err: error }, 'policy file watch failed; polling only'));
    } catch (error) {
      logger.warn({ file, err: error }, 'cannot watch the policy file directory; polling only');
    }
    if (pollMs > 0) {
      poll = setInterval(() => void reload('poll'), pollMs);
      poll.unref();
    }
  }

  return {
    current: () => policy,
    reload,
    close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      watcher?.close();
    },
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
