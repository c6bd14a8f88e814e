// Which Tencent Cloud product an instance id belongs to, and that product's API facts.

export type Product = 'lighthouse' | 'cvm';

export interface ProductSpec {
  /** Credential-scope service name, whatever endpoint is dialled. */
  service: Product;
  version: string;
  /** CVM calls must carry X-TC-Region; Lighthouse's DescribeInstanceVncUrl does not need one. */
  regionRequired: boolean;
}

export const PRODUCTS: Readonly<Record<Product, ProductSpec>> = {
  lighthouse: { service: 'lighthouse', version: '2020-03-24', regionRequired: false },
  cvm: { service: 'cvm', version: '2017-03-12', regionRequired: true },
};

// Tencent ids are lower-case letters and digits after the prefix (lhins-ruy9d2tw, ins-abcd1234).
const INSTANCE_ID = /^(lhins|ins)-[a-z0-9]{1,32}$/;

/** True for a syntactically valid Lighthouse (`lhins-…`) or CVM (`ins-…`) instance id. */
export function isInstanceId(value: string): boolean {
  return INSTANCE_ID.test(value);
}

/** The product of a valid instance id; undefined for anything else. */
export function productOf(instanceId: string): Product | undefined {
  const match = INSTANCE_ID.exec(instanceId);
  if (match === null) return undefined;
  return match[1] === 'lhins' ? 'lighthouse' : 'cvm';
}
