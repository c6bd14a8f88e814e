// Tencent Cloud error codes → gateway errors. Codes from the DescribeInstanceVncUrl pages of
// Lighthouse and CVM and from the API 3.0 common error codes. The README's table mirrors this.

import type { ErrorCode } from '../errors.js';

export interface TencentErrorMapping {
  code: ErrorCode;
  /** The plain sentence a user sees; never the Tencent message, which may name internals. */
  message: string;
}

const NOT_FOUND: TencentErrorMapping = { code: 'instance_not_found', message: 'The instance does not exist in this account and region.' };
const MALFORMED: TencentErrorMapping = { code: 'instance_id_invalid', message: 'Tencent Cloud does not recognise this instance id format.' };
const STOPPED: TencentErrorMapping = { code: 'instance_state', message: 'The instance is not running; start it first, then reconnect.' };
const CREATING: TencentErrorMapping = { code: 'instance_state', message: 'The instance is still being created; try again when it is running.' };
const BUSY: TencentErrorMapping = { code: 'instance_state', message: 'The instance has an operation in progress; try again when it finishes.' };
const CREDENTIALS: TencentErrorMapping = { code: 'tencent_api_error', message: "Tencent Cloud refused the gateway's API credentials." };
const PERMISSION: TencentErrorMapping = { code: 'tencent_api_error', message: "The gateway's Tencent Cloud key is not allowed to open this console." };
const LIMITED: TencentErrorMapping = { code: 'tencent_api_error', message: "Tencent Cloud's rate limit was reached; try again in a minute." };
const UNAVAILABLE: TencentErrorMapping = { code: 'tencent_api_error', message: 'Tencent Cloud failed to provide the console; try again shortly.' };
const REQUEST: TencentErrorMapping = { code: 'tencent_api_error', message: 'Tencent Cloud rejected the request.' };

/** Exact codes first; then the prefix rules below. */
export const TENCENT_ERROR_CODES: Readonly<Record<string, TencentErrorMapping>> = {
  // Lighthouse DescribeInstanceVncUrl (reference page, section 6).
  'FailedOperation': UNAVAILABLE,
  'FailedOperation.DescribeInstanceStatus': UNAVAILABLE,
  'FailedOperation.InstanceOperationFailed': UNAVAILABLE,
  'InternalError.DescribeInstanceStatus': UNAVAILABLE,
  'InternalError.InvalidCommandNotFound': UNAVAILABLE,
  'InvalidParameterValue.InstanceIdMalformed': MALFORMED,
  'OperationDenied.InstanceCreating': CREATING,
  'ResourceNotFound.InstanceIdNotFound': NOT_FOUND,
  'ResourceNotFound.InstanceNotFound': NOT_FOUND,
  'UnauthorizedOperation.NoPermission': PERMISSION,
  'UnsupportedOperation.InvalidInstanceState': STOPPED,
  'UnsupportedOperation.LatestOperationUnfinished': BUSY,
  // CVM DescribeInstanceVncUrl.
  'InvalidInstanceId.Malformed': MALFORMED,
  'InvalidInstanceId.NotFound': NOT_FOUND,
  'InvalidInstanceState': STOPPED,
  'UnsupportedOperation.InstanceStateStopped': STOPPED,
  'UnsupportedOperation.InstanceStateStopping': STOPPED,
  'UnsupportedOperation.InstanceStateStarting': BUSY,
  'UnsupportedOperation.InstanceStateRebooting': BUSY,
  'UnsupportedOperation.InstanceStatePending': CREATING,
  'UnsupportedOperation.InstanceStateShutdown': STOPPED,
  'UnsupportedOperation.InstanceStateTerminating': STOPPED,
  'UnsupportedOperation.InstanceStateTerminated': NOT_FOUND,
  'UnsupportedOperation.InstanceStateExpire': STOPPED,
  'UnsupportedOperation.InstanceStateIsolating': STOPPED,
  'OperationDenied.InstanceOperationInProgress': BUSY,
  // Common error codes.
  'AuthFailure.InvalidAuthorization': CREDENTIALS,
  'AuthFailure.InvalidSecretId': CREDENTIALS,
  'AuthFailure.MFAFailure': CREDENTIALS,
  'AuthFailure.SecretIdNotFound': CREDENTIALS,
  'AuthFailure.SignatureExpire': CREDENTIALS,
  'AuthFailure.SignatureFailure': CREDENTIALS,
  'AuthFailure.TokenFailure': CREDENTIALS,
  'AuthFailure.UnauthorizedOperation': PERMISSION,
  'UnauthorizedOperation': PERMISSION,
  'RequestLimitExceeded': LIMITED,
  'RequestLimitExceeded.UinLimitExceeded': LIMITED,
  'RequestLimitExceeded.GlobalRegionUinLimitExceeded': LIMITED,
  'RequestLimitExceeded.IPLimitExceeded': LIMITED,
  'LimitExceeded': LIMITED,
  'InternalError': UNAVAILABLE,
  'ServiceUnavailable': UNAVAILABLE,
  'ResourceUnavailable': UNAVAILABLE,
  'ResourceNotFound': NOT_FOUND,
  'InvalidAction': REQUEST,
  'InvalidParameter': REQUEST,
  'InvalidParameterValue': REQUEST,
  'MissingParameter': REQUEST,
  'UnknownParameter': REQUEST,
  'NoSuchVersion': REQUEST,
  'NoSuchProduct': REQUEST,
  'UnsupportedRegion': REQUEST,
  'InvalidRequest': REQUEST,
  'UnsupportedProtocol': REQUEST,
  'RequestSizeLimitExceeded': REQUEST,
  'ResponseSizeLimitExceeded': UNAVAILABLE,
  'UnsupportedOperation': REQUEST,
  'ActionOffline': REQUEST,
  'IpInBlacklist': PERMISSION,
  'IpNotInWhitelist': PERMISSION,
  'OperationDenied': REQUEST,
  'DryRunOperation': REQUEST,
  'ResourceInUse': BUSY,
  'ResourceInsufficient': UNAVAILABLE,
  // DescribeInstances (the instance picker).
  'InvalidFilter': REQUEST,
  'InvalidParameterValue.LimitExceeded': REQUEST,
  // Raised by the gateway itself, never by Tencent; listed so admins can read them in audit records.
  'NetworkError': UNAVAILABLE,
  'CredentialsUnavailable': CREDENTIALS,
  'NoAccountForInstance': REQUEST,
};

const PREFIX_RULES: ReadonlyArray<readonly [string, TencentErrorMapping]> = [
  ['AuthFailure.', CREDENTIALS],
  ['UnauthorizedOperation.', PERMISSION],
  ['RequestLimitExceeded.', LIMITED],
  ['LimitExceeded.', LIMITED],
  ['InternalError.', UNAVAILABLE],
  ['FailedOperation.', UNAVAILABLE],
  ['ResourceNotFound.', NOT_FOUND],
  ['InvalidInstanceId.', MALFORMED],
];

/** Maps any Tencent error code; an unknown one becomes tencent_api_error (the code is kept for admins). */
export function mapTencentError(tencentCode: string): TencentErrorMapping {
  // Own keys only: a code such as `constructor` or `__proto__` must not find Object.prototype's members.
  if (Object.hasOwn(TENCENT_ERROR_CODES, tencentCode)) return TENCENT_ERROR_CODES[tencentCode]!;
  for (const [prefix, mapping] of PREFIX_RULES) if (tencentCode.startsWith(prefix)) return mapping;
  return UNAVAILABLE;
}
