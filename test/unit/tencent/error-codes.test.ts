// The Tencent error catalogue: every code DescribeInstanceVncUrl documents for either product is
// listed by name (the README's table is generated from it), and each class maps as DESIGN.md says.

import { describe, expect, it } from 'vitest';
import { isRetryableTencentError } from '../../../gateway/tencent/retry.js';
import { GatewayError } from '../../../gateway/errors.js';
import { mapTencentError, TENCENT_ERROR_CODES } from '../../../gateway/tencent/error-codes.js';

// CVM DescribeInstanceVncUrl, "error codes that may be returned" (CVM API page, official SDKs).
const CVM_DOCUMENTED = [
  'InvalidInstance.NotSupported',
  'InvalidInstanceId.Malformed',
  'InvalidInstanceId.NotFound',
  'InvalidInstanceState',
  'OperationDenied.InstanceOperationInProgress',
  'UnauthorizedOperation.MFAExpired',
  'UnauthorizedOperation.MFANotFound',
  'UnsupportedOperation.InstanceStateEnterRescueMode',
  'UnsupportedOperation.InstanceStateEnterServiceLiveMigrate',
  'UnsupportedOperation.InstanceStateExitRescueMode',
  'UnsupportedOperation.InstanceStateExitServiceLiveMigrate',
  'UnsupportedOperation.InstanceStatePending',
  'UnsupportedOperation.InstanceStateRebooting',
  'UnsupportedOperation.InstanceStateShutdown',
  'UnsupportedOperation.InstanceStateStarting',
  'UnsupportedOperation.InstanceStateStopped',
  'UnsupportedOperation.InstanceStateStopping',
  'UnsupportedOperation.InstanceStateTerminated',
  'UnsupportedOperation.InstanceStateTerminating',
  'UnsupportedOperation.SpecialInstanceType',
  'UnsupportedOperation.StoppedModeStopCharging',
];

// Lighthouse DescribeInstanceVncUrl, section 6 of reference/lighthouse-DescribeInstanceVncUrl.txt.
const LIGHTHOUSE_DOCUMENTED = [
  'FailedOperation',
  'FailedOperation.DescribeInstanceStatus',
  'FailedOperation.InstanceOperationFailed',
  'InternalError.DescribeInstanceStatus',
  'InternalError.InvalidCommandNotFound',
  'InvalidParameterValue.InstanceIdMalformed',
  'OperationDenied.InstanceCreating',
  'ResourceNotFound.InstanceIdNotFound',
  'ResourceNotFound.InstanceNotFound',
  'UnauthorizedOperation.NoPermission',
  'UnsupportedOperation.InvalidInstanceState',
  'UnsupportedOperation.LatestOperationUnfinished',
];

describe('the Tencent error catalogue', () => {
  it.each([...LIGHTHOUSE_DOCUMENTED, ...CVM_DOCUMENTED])('lists %s by name, so the README table shows it', (code) => {
    expect(Object.hasOwn(TENCENT_ERROR_CODES, code)).toBe(true);
  });

  it.each([
    'UnsupportedOperation.InstanceStateEnterRescueMode',
    'UnsupportedOperation.InstanceStateExitRescueMode',
    'UnsupportedOperation.InstanceStateEnterServiceLiveMigrate',
    'UnsupportedOperation.InstanceStateExitServiceLiveMigrate',
    'UnsupportedOperation.StoppedModeStopCharging',
    'UnsupportedOperation.InstanceStateRescueMode',
    // Not listed: any later UnsupportedOperation.InstanceState<State> is a state too.
    'UnsupportedOperation.InstanceStateSomethingNew',
  ])('reads %s as an instance state (4409)', (code) => {
    expect(mapTencentError(code).code).toBe('instance_state');
  });

  it.each(['InvalidInstance.NotSupported', 'UnsupportedOperation.SpecialInstanceType'])(
    'refuses %s plainly: the instance type has no VNC console, and asking again will not change that',
    (code) => {
      const mapping = mapTencentError(code);
      expect(mapping.code).toBe('tencent_api_error');
      expect(mapping.message).toMatch(/instance type/i);
      expect(isRetryableTencentError(new GatewayError(mapping.code, { upstreamCode: code }))).toBe(false);
    },
  );

  it.each(['UnauthorizedOperation.MFAExpired', 'UnauthorizedOperation.MFANotFound'])('reads %s as a permission problem', (code) => {
    expect(mapTencentError(code)).toEqual(mapTencentError('UnauthorizedOperation.NoPermission'));
  });
});
