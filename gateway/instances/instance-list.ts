// Which instances a user may open, for the instance picker: the policy's explicit ids plus, in
// the configured regions, what Lighthouse and CVM DescribeInstances report (names, states),
// every entry filtered through the same policy decision as the ticket API.

import type { Identity, Role } from '../../auth/identity.js';
import { decide, type Policy } from '../../auth/policy.js';
import { isGatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TencentClient } from '../tencent/client.js';
import { isInstanceId, productOf, type Product } from '../tencent/products.js';

/** One row of the picker. */
export interface ListedInstance {
  instanceId: string;
  product: Product;
  /** The instance's name, when DescribeInstances reported it. */
  name?: string;
  /** Tencent's state (RUNNING, STOPPED, …); absent when the instance was not in any listing. */
  state?: string;
  /** The region it was listed in. */
  region?: string;
  /** The role the policy grants this user on it. */
  role: Role;
  /** A console can be opened now: a role with control, and RUNNING (or a state not known). */
  connectable: boolean;
}

export interface InstanceListing {
  instances: ListedInstance[];
  /** Sentences about listings that failed (the rest is still shown). */
  warnings: string[];
}

export interface InstanceLister {
  list(policy: Policy, identity: Identity): Promise<InstanceListing>;
}

export interface InstanceListerOptions {
  tencent: TencentClient;
  /** INSTANCE_LIST_REGIONS; empty = the policy's explicit ids only, no API call. */
  regions: readonly string[];
  logger?: Logger;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** How long one region's listing is reused for every user (default 15 s). */
  cacheTtlMs?: number;
  /** At most this many instances per product and region (default 1000). */
  maxPerListing?: number;
}

interface CloudInstance {
  instanceId: string;
  name?: string;
  state?: string;
  region: string;
}

interface Fetched {
  at: number;
  result: Promise<{ instances: CloudInstance[]; warning?: string }>;
}

const PRODUCT_NAMES: Readonly<Record<Product, string>> = { lighthouse: 'Lighthouse', cvm: 'CVM' };
// Both APIs accept at most 100 per page.
const PAGE_SIZE = 100;

/**
 * Creates the lister. A region's listing is fetched once per `cacheTtlMs` for all users and
 * filtered per user afterwards: page loads must not spend the account's API budget (Tencent
 * limits DescribeInstances per account, like DescribeInstanceVncUrl).
 */
export function createInstanceLister(options: InstanceListerOptions): InstanceLister {
  const now = options.now ?? Date.now;
  const ttlMs = options.cacheTtlMs ?? 15_000;
  const maxPerListing = options.maxPerListing ?? 1000;
  const cache = new Map<string, Fetched>();

  async function fetchListing(product: Product, region: string): Promise<{ instances: CloudInstance[]; warning?: string }> {
    const instances: CloudInstance[] = [];
    try {
      for (let offset = 0; offset < maxPerListing; offset += PAGE_SIZE) {
        const { response } = await options.tencent.call({
          product,
          action: 'DescribeInstances',
          params: { Offset: offset, Limit: PAGE_SIZE },
          region,
        });
        const set = Array.isArray(response.InstanceSet) ? (response.InstanceSet as unknown[]) : [];
        for (const raw of set) {
          const item = raw as Record<string, unknown> | null;
          const id = typeof item?.InstanceId === 'string' ? item.InstanceId : undefined;
          if (id === undefined || productOf(id) !== product) continue;
          instances.push({
            instanceId: id,
            ...(typeof item?.InstanceName === 'string' && item.InstanceName !== '' ? { name: item.InstanceName } : {}),
            ...(typeof item?.InstanceState === 'string' ? { state: item.InstanceState } : {}),
            region,
          });
        }
        const total = typeof response.TotalCount === 'number' ? response.TotalCount : 0;
        if (set.length < PAGE_SIZE || offset + PAGE_SIZE >= total) break;
      }
      return { instances };
    } catch (error) {
      const code = isGatewayError(error) ? error.upstreamCode : undefined;
      options.logger?.warn({ product, region, code, err: error instanceof Error ? error.message : String(error) }, 'instance listing failed');
      return { instances, warning: `Could not list ${PRODUCT_NAMES[product]} instances in ${region}${code ? ` (${code})` : ''}; instances there may be missing.` };
    }
  }

  function listing(product: Product, region: string): Promise<{ instances: CloudInstance[]; warning?: string }> {
    const key = `${product}|${region}`;
    const cached = cache.get(key);
    if (cached !== undefined && now() - cached.at < ttlMs) return cached.result;
    const result = fetchListing(product, region);
    cache.set(key, { at: now(), result });
    return result;
  }

  return {
    async list(policy, identity) {
      const byId = new Map<string, ListedInstance>();
      const add = (instanceId: string, extra: { name?: string; state?: string; region?: string }): void => {
        if (byId.has(instanceId)) return;
        const product = productOf(instanceId);
        if (product === undefined) return;
        const decision = decide(policy, identity, instanceId);
        if (!decision.allowed) return;
        const running = extra.state === undefined || extra.state === 'RUNNING';
        byId.set(instanceId, { instanceId, product, ...extra, role: decision.role, connectable: running && decision.role !== 'viewer' });
      };

      const warnings: string[] = [];
      const listings = await Promise.all(
        options.regions.flatMap((region) => (['lighthouse', 'cvm'] as const).map((product) => listing(product, region))),
      );
      for (const { instances, warning } of listings) {
        if (warning !== undefined) warnings.push(warning);
        for (const { instanceId, ...extra } of instances) add(instanceId, extra);
      }
      // Explicit ids the user is granted; globs cannot be listed without the API.
      for (const rule of policy.rules) {
        for (const entry of rule.instances) {
          if (!entry.includes('*') && !entry.includes('?') && isInstanceId(entry)) add(entry, {});
        }
      }
      const instances = [...byId.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
      return { instances, warnings };
    },
  };
}
