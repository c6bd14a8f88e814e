// Tencent Cloud error codes → gateway errors. Codes from the DescribeInstanceVncUrl pages of
// Lighthouse and CVM (with the official SDKs' per-action error lists) and from the API 3.0
// common error codes. The README's table is generated from this.

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
const RESCUE: TencentErrorMapping = { code: 'instance_state', message: 'The instance is entering or leaving rescue mode; try again when it is running.' };
const MIGRATING: TencentErrorMapping = { code: 'instance_state', message: 'The instance is being migrated by Tencent Cloud; try again when it finishes.' };
const STATE: TencentErrorMapping = { code: 'instance_state', message: 'The instance is not in a state that allows a console; try again when it is running.' };
// An answer about the instance itself: asking again cannot change it, so it is not retried.
const UNSUPPORTED_TYPE: TencentErrorMapping = { code: 'tencent_api_error', message: 'This instance type has no VNC console in Tencent Cloud.' };
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
  // CVM DescribeInstanceVncUrl (its API page and the SDKs' "error codes that may be returned").
  'InvalidInstance.NotSupported': UNSUPPORTED_TYPE,
  'InvalidInstanceId.Malformed': MALFORMED,
  'InvalidInstanceId.NotFound': NOT_FOUND,
  'InvalidInstanceState': STOPPED,
  'OperationDenied.InstanceOperationInProgress': BUSY,
  'UnauthorizedOperation.MFAExpired': PERMISSION,
  'UnauthorizedOperation.MFANotFound': PERMISSION,
  'UnsupportedOperation.InstanceStateEnterRescueMode': RESCUE,
  'UnsupportedOperation.InstanceStateEnterServiceLiveMigrate': MIGRATING,
  'UnsupportedOperation.InstanceStateExitRescueMode': RESCUE,
  'UnsupportedOperation.InstanceStateExitServiceLiveMigrate': MIGRATING,
  'UnsupportedOperation.InstanceStatePending': CREATING,
  'UnsupportedOperation.InstanceStateRebooting': BUSY,
  'UnsupportedOperation.InstanceStateShutdown': STOPPED,
  'UnsupportedOperation.InstanceStateStarting': BUSY,
  'UnsupportedOperation.InstanceStateStopped': STOPPED,
  'UnsupportedOperation.InstanceStateStopping': STOPPED,
  'UnsupportedOperation.InstanceStateTerminated': NOT_FOUND,
  'UnsupportedOperation.InstanceStateTerminating': STOPPED,
  'UnsupportedOperation.SpecialInstanceType': UNSUPPORTED_TYPE,
  // Stopped in "no charge when shut down" mode: still a stopped instance.
  'UnsupportedOperation.StoppedModeStopCharging': STOPPED,
  // Other CVM instance states that actions on a single instance answer.
  'UnsupportedOperation.InstanceStateExpire': STOPPED,
  'UnsupportedOperation.InstanceStateIsolating': STOPPED,
  'UnsupportedOperation.InstanceStateRescueMode': RESCUE,
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
  'InvalidFilterValue.LimitExceeded': REQUEST,
  'InvalidParameterValue.LimitExceeded': REQUEST,
  'InternalServerError': UNAVAILABLE,
  'UnauthorizedOperation.InvalidToken': CREDENTIALS,
  // Raised by the gateway itself, never by Tencent; listed so admins can read them in audit records.
  'NetworkError': UNAVAILABLE,
  'CredentialsUnavailable': CREDENTIALS,
  'NoAccountForInstance': REQUEST,
};

/** Codes not listed above, by prefix, in order; the README lists these rules after the codes. */
export const TENCENT_ERROR_PREFIXES: ReadonlyArray<readonly [string, TencentErrorMapping]> = [
  ['AuthFailure.', CREDENTIALS],
  ['UnauthorizedOperation.', PERMISSION],
  ['RequestLimitExceeded.', LIMITED],
  ['LimitExceeded.', LIMITED],
  ['InternalError.', UNAVAILABLE],
  ['FailedOperation.', UNAVAILABLE],
  ['ResourceNotFound.', NOT_FOUND],
  ['InvalidInstanceId.', MALFORMED],
  // CVM names each state that refuses an action UnsupportedOperation.InstanceState<State>;
  // one Tencent adds later is a state too, not a gateway failure.
  ['UnsupportedOperation.InstanceState', STATE],
];

/** Maps any Tencent error code; an unknown one becomes tencent_api_error (the code is kept for admins). */
export function mapTencentError(tencentCode: string): TencentErrorMapping {
  // Own keys only: a code such as `constructor` or `__proto__` must not find Object.prototype's members.
  if (Object.hasOwn(TENCENT_ERROR_CODES, tencentCode)) return TENCENT_ERROR_CODES[tencentCode]!;
  for (const [prefix, mapping] of TENCENT_ERROR_PREFIXES) if (tencentCode.startsWith(prefix)) return mapping;
  return UNAVAILABLE;
}
