// DescribeInstanceVncUrl: asks Tencent Cloud for the instance's single-use console URL,
// decodes it strictly and pins its host to the UPSTREAM_HOSTS allowlist, so the gateway never
// dials an address that Tencent (or anyone in between) did not legitimately hand out.

import { compileGlob } from '../../auth/glob.js';
import { GatewayError } from '../errors.js';
import type { TencentClient } from './client.js';
import { productOf } from './products.js';

export interface VncUrl {
  /** The decoded wss:// URL. A bearer secret: never log it, never send it to the browser. */
  url: URL;
  /** Tencent's RequestId of the call, for the audit record. */
  requestId: string;
}

/** True when a host may be dialled; built once from UPSTREAM_HOSTS. */
export type HostAllowlist = (hostname: string) => boolean;

export function createHostAllowlist(globs: readonly string[]): HostAllowlist {
  const matchers = globs.map((glob) => compileGlob(glob.toLowerCase()));
  return (hostname) => {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    return matchers.some((matches) => matches(host));
  };
}

// The encoded form holds only unreserved characters and %XX escapes ("wss%3A%2F%2F…").
const ENCODED_URL = /^(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+$/;
const MAX_URL_LENGTH = 4096;

/**
 * Decodes Tencent's URL-encoded InstanceVncUrl. Refuses anything that is not exactly one
 * level of percent-encoding of a credential-free `wss://` URL whose host is allowed.
 */
export function decodeVncUrl(encoded: unknown, allowHost: HostAllowlist, requestId = ''): URL {
  const malformed = (why: string): GatewayError =>
    new GatewayError('tencent_api_error', { requestId, upstreamCode: 'MalformedVncUrl', cause: new Error(`InstanceVncUrl ${why}`) });
  if (typeof encoded !== 'string' || encoded.length === 0) throw malformed('is missing');
  if (encoded.length > MAX_URL_LENGTH) throw malformed('is too long');
  if (!ENCODED_URL.test(encoded)) throw malformed('is not URL-encoded');
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch (error) {
    throw new GatewayError('tencent_api_error', { requestId, upstreamCode: 'MalformedVncUrl', cause: error });
  }
  // Control characters or whitespace would be silently stripped by the URL parser.
  if (/[\u0000-\u0020\u007f\\]/.test(decoded)) throw malformed('holds control characters, spaces or backslashes');
  let url: URL;
  try {
    url = new URL(decoded);
  } catch (error) {
    throw new GatewayError('tencent_api_error', { requestId, upstreamCode: 'MalformedVncUrl', cause: error });
  }
  if (url.protocol !== 'wss:') throw malformed(`has scheme ${url.protocol} (only wss: is dialled)`);
  if (url.username !== '' || url.password !== '') throw malformed('carries user info');
  // `*.qcloud.com` matches `.qcloud.com` too (a * may match nothing); an empty label is no host name.
  if (url.hostname.startsWith('.') || url.hostname.includes('..')) throw malformed('has an empty label in its host');
  if (!allowHost(url.hostname)) {
    throw new GatewayError('upstream_host_forbidden', {
      requestId,
      upstreamCode: 'HostNotAllowed',
      cause: new Error(`InstanceVncUrl host ${url.hostname} is not in UPSTREAM_HOSTS`),
    });
  }
  return url;
}

/** Calls DescribeInstanceVncUrl for a Lighthouse or CVM instance and returns the pinned URL. */
export async function describeInstanceVncUrl(
  client: TencentClient,
  instanceId: string,
  allowHost: HostAllowlist,
  region?: string,
  timeoutMs?: number,
): Promise<VncUrl> {
  const product = productOf(instanceId);
  if (product === undefined) throw new GatewayError('instance_id_invalid');
  const { response, requestId } = await client.call({
    product,
    action: 'DescribeInstanceVncUrl',
    params: { InstanceId: instanceId },
    ...(region === undefined ? {} : { region }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  return { url: decodeVncUrl(response.InstanceVncUrl, allowHost, requestId), requestId };
}
