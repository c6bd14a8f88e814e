// The simulated instances: their shape, the demo fleet, id formats, and which error each product answers for each state.

/** Instance states as Tencent reports them (CREATING is accepted as this project's alias of PENDING). */
export type InstanceState =
  | 'PENDING'
  | 'CREATING'
  | 'LAUNCH_FAILED'
  | 'RUNNING'
  | 'STOPPED'
  | 'STARTING'
  | 'STOPPING'
  | 'REBOOTING'
  | 'SHUTDOWN'
  | 'TERMINATING'
  | 'TERMINATED'
  | 'DELETING'
  | 'RESETTING';

/** What the instance's VNC console is connected to. */
export type VncTarget =
  /** The in-process RFB server (simulator/rfb-server.ts). */
  | { kind: 'builtin' }
  /** Every WebSocket message is sent back unchanged: for byte-exact relay tests. */
  | { kind: 'echo' }
  /** A real RFB server over TCP, e.g. x11vnc. */
  | { kind: 'tcp'; host: string; port: number }
  /**
   * A console that takes the connection and the upgrade request but never answers it (a hung
   * endpoint): the gateway's upstream connect deadline must end the session.
   */
  | { kind: 'silent' };

/** One simulated instance. The product follows from the id: `lhins-…` Lighthouse, `ins-…` CVM. */
export interface SimInstance {
  id: string;
  name?: string;
  state: InstanceState;
  /** When set, the instance exists only in this region; unset means it is found from any region. */
  region?: string;
  /** Default `{ kind: 'builtin' }`. */
  vnc?: VncTarget;
}

/** The two products one simulator serves. */
export type Product = 'lighthouse' | 'cvm';

/** API version each product's credential-scope service requires. */
export const PRODUCT_VERSIONS: Readonly<Record<Product, string>> = { lighthouse: '2020-03-24', cvm: '2017-03-12' };

/** The default fleet: one instance per interesting case. */
export const DEMO_INSTANCES: readonly SimInstance[] = Object.freeze([
  { id: 'lhins-demo0001', name: 'demo-lighthouse', state: 'RUNNING', vnc: { kind: 'builtin' } },
  { id: 'lhins-echo0001', name: 'demo-echo', state: 'RUNNING', vnc: { kind: 'echo' } },
  { id: 'lhins-stopped1', name: 'demo-stopped', state: 'STOPPED', vnc: { kind: 'builtin' } },
  { id: 'lhins-creating', name: 'demo-creating', state: 'CREATING', vnc: { kind: 'builtin' } },
  { id: 'lhins-reboot01', name: 'demo-rebooting', state: 'REBOOTING', vnc: { kind: 'builtin' } },
  { id: 'ins-demo0001', name: 'demo-cvm', state: 'RUNNING', vnc: { kind: 'builtin' } },
  { id: 'ins-stopped1', name: 'demo-cvm-stopped', state: 'STOPPED', vnc: { kind: 'builtin' } },
] satisfies SimInstance[]);

// Real ids are the prefix plus 8 lowercase alphanumerics; the simulator enforces that so a gateway
// that mangles ids (or sends a CVM id to Lighthouse) fails here rather than in production.
const ID_FORMATS: Readonly<Record<Product, RegExp>> = {
  lighthouse: /^lhins-[a-z0-9]{8}$/,
  cvm: /^ins-[a-z0-9]{8}$/,
};

/** True when `id` is well formed for `product`. */
export function isWellFormedInstanceId(product: Product, id: string): boolean {
  return ID_FORMATS[product].test(id);
}

/** The product an instance id belongs to, or undefined if it has neither prefix. */
export function productOfInstanceId(id: string): Product | undefined {
  if (id.startsWith('lhins-')) return 'lighthouse';
  if (id.startsWith('ins-')) return 'cvm';
  return undefined;
}

/** The state DescribeInstances reports (Tencent has no CREATING; it says PENDING). */
export function reportedState(state: InstanceState): InstanceState {
  return state === 'CREATING' ? 'PENDING' : state;
}

/**
 * The error DescribeInstanceVncUrl answers for an instance in `state`, or undefined when a URL may be issued.
 * Lighthouse codes come from its API page; CVM codes from the CVM DescribeInstanceVncUrl error list
 * (UnsupportedOperation.InstanceState<State>, InvalidInstanceState for the rest).
 */
export function vncStateError(product: Product, id: string, state: InstanceState): { code: string; message: string } | undefined {
  if (state === 'RUNNING') return undefined;
  if (product === 'lighthouse') {
    switch (state) {
      case 'PENDING':
      case 'CREATING':
        return { code: 'OperationDenied.InstanceCreating', message: `The instance \`${id}\` is being created.` };
      case 'STOPPED':
      case 'SHUTDOWN':
      case 'LAUNCH_FAILED':
      case 'TERMINATED':
        return {
          code: 'UnsupportedOperation.InvalidInstanceState',
          message: `Unsupported operation: the instance \`${id}\` is in state \`${state}\`.`,
        };
      default:
        return {
          code: 'UnsupportedOperation.LatestOperationUnfinished',
          message: `Unsupported operation: the last operation of instance \`${id}\` (state \`${state}\`) has not been completed.`,
        };
    }
  }
  const cvmCodes: Partial<Record<InstanceState, string>> = {
    PENDING: 'UnsupportedOperation.InstanceStatePending',
    CREATING: 'UnsupportedOperation.InstanceStatePending',
    STOPPED: 'UnsupportedOperation.InstanceStateStopped',
    STARTING: 'UnsupportedOperation.InstanceStateStarting',
    STOPPING: 'UnsupportedOperation.InstanceStateStopping',
    REBOOTING: 'UnsupportedOperation.InstanceStateRebooting',
    SHUTDOWN: 'UnsupportedOperation.InstanceStateShutdown',
    TERMINATING: 'UnsupportedOperation.InstanceStateTerminating',
    TERMINATED: 'UnsupportedOperation.InstanceStateTerminated',
  };
  return {
    code: cvmCodes[state] ?? 'InvalidInstanceState',
    message: `The instance \`${id}\` is in state \`${reportedState(state)}\`, which does not allow this operation.`,
  };
}

// Public Tencent Cloud regions (mainland, international and finance); a region outside this list is refused.
const REGIONS = new Set([
  'ap-guangzhou', 'ap-shanghai', 'ap-nanjing', 'ap-beijing', 'ap-chengdu', 'ap-chongqing', 'ap-hongkong',
  'ap-taipei', 'ap-singapore', 'ap-jakarta', 'ap-bangkok', 'ap-seoul', 'ap-tokyo', 'ap-mumbai',
  'na-siliconvalley', 'na-ashburn', 'na-toronto', 'sa-saopaulo', 'eu-frankfurt', 'eu-moscow',
  'ap-shanghai-fsi', 'ap-shenzhen-fsi', 'ap-beijing-fsi', 'me-saudi-arabia', 'ap-qingyuan',
]);

/** True when `region` is a region name Tencent Cloud serves. */
export function isKnownRegion(region: string): boolean {
  return REGIONS.has(region);
}
