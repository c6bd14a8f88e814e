// Which region an instance's API call goes to: the region the user asked for (ticket body or
// console `?region=`), else a configured mapping of ids/globs, else the account's default.

import { compileGlob } from '../../auth/glob.js';

// Tencent region names: area, place, optional number or `-fsi` suffix (ap-guangzhou,
// na-siliconvalley, eu-frankfurt, ap-shanghai-fsi, me-saudi-arabia). Strict so a request
// body cannot put arbitrary text into a signed header.
const REGION = /^[a-z]{2,4}(-[a-z]{2,20}){1,3}(-\d{1,2})?$/;

/** True for a syntactically valid Tencent Cloud region name. */
export function isRegionName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 40 && REGION.test(value);
}

/** One `glob=region` entry of INSTANCE_REGIONS. */
export interface InstanceRegionRule {
  glob: string;
  region: string;
}

/**
 * Parses `lhins-sh*=ap-shanghai,ins-abc*=ap-beijing`. Returns the rules and every problem
 * (an entry without `=`, a bad glob, a bad region) so configuration can list them together.
 */
export function parseInstanceRegions(value: string): { rules: InstanceRegionRule[]; problems: string[] } {
  const rules: InstanceRegionRule[] = [];
  const problems: string[] = [];
  for (const entry of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const [glob = '', region = '', ...rest] = entry.split('=').map((s) => s.trim());
    if (rest.length > 0 || glob === '' || region === '') problems.push(`"${entry}" is not glob=region`);
    else if (!/^[a-z0-9*?-]+$/.test(glob)) problems.push(`"${glob}" is not an instance id or glob`);
    else if (!isRegionName(region)) problems.push(`"${region}" is not a region name like ap-guangzhou`);
    else rules.push({ glob, region });
  }
  return { rules, problems };
}

/** Resolves the region of one call; the first rule matching the instance wins. */
export type RegionResolver = (instanceId: string, requested: string | undefined, accountDefault: string) => string;

export function createRegionResolver(rules: readonly InstanceRegionRule[]): RegionResolver {
  const compiled = rules.map((rule) => ({ matches: compileGlob(rule.glob), region: rule.region }));
  return (instanceId, requested, accountDefault) => {
    if (requested !== undefined) {
      // Callers validate at the edge; this is the last line before a signed header.
      if (!isRegionName(requested)) throw new RangeError(`not a region name: ${requested}`);
      return requested;
    }
    return compiled.find((rule) => rule.matches(instanceId))?.region ?? accountDefault;
  };
}
