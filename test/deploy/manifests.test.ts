// The deployment files operators apply: every manifest parses, and the fields they depend on
// hold — probes, resources, the restrictive securityContext, the grace period against
// SHUTDOWN_GRACE_S, WebSocket timeouts, configuration names the gateway actually reads — and
// the alert rules and dashboard use only metrics the gateway exports.

import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicKey } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, VARIABLES } from '../../gateway/config.js';
import { streamHeadKey } from '../../gateway/audit/audit-redis-sink.js';
import { createGatewayMetrics } from '../../gateway/metrics.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(REPO, 'deploy');
// Variables Node itself reads, which operators set next to the gateway's own.
const NODE_VARIABLES = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', 'HTTPS_PROXY', 'NO_PROXY']);
const KNOWN_VARIABLES = new Set([...VARIABLES.map((v) => v.name), ...NODE_VARIABLES]);

// Manifests are free-form YAML; the assertions are the schema.
type Doc = Record<string, any>;

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, ext) : ext.test(name) ? [path] : [];
  });
}

function loadYaml(path: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${relative(REPO, path)}: ${doc.errors.map((e) => e.message).join('; ')}`);
  }
  return list.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

const base = (file: string): Doc => loadYaml(join(DEPLOY, 'kubernetes/base', file))[0]!;

/** SHUTDOWN_GRACE_S as configured (the ConfigMap) or by default (the schema). */
function shutdownGraceSeconds(configured: string | undefined): number {
  const fallback = VARIABLES.find((v) => v.name === 'SHUTDOWN_GRACE_S')?.default ?? '30';
  return Number(configured ?? fallback);
}

describe('every deployment file', () => {
  it.each(filesUnder(DEPLOY, /\.ya?ml$/).map((p) => relative(REPO, p)))('%s parses', (file) => {
    expect(loadYaml(join(REPO, file)).length).toBeGreaterThan(0);
  });

  it('the Grafana dashboard parses', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'monitoring/grafana-dashboard.json'), 'utf8')) as Doc;
    expect(dashboard.panels.length).toBeGreaterThan(10);
  });
});

describe('the Kubernetes Deployment', () => {
  const deployment = base('deployment.yaml');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: Doc) => c.name === 'gateway');
  const configMap = base('configmap.yaml');

  it('leaves the replica count to the autoscaler (min 3), with readiness on /readyz and liveness on /healthz', () => {
    // A fixed count would be reapplied by every `kubectl apply`, undoing the autoscaler's scale
    // and ending the sessions on the pods it removes.
    expect(deployment.spec.replicas).toBeUndefined();
    expect(base('hpa.yaml').spec.minReplicas).toBe(3);
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.port).toBe(container.ports[0].name);
  });

  it('asks for CPU and memory and caps memory above the Node heap', () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    const limitMi = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1]);
    const heapMi = Number(/--max-old-space-size=(\d+)/.exec(configMap.data.NODE_OPTIONS)?.[1]);
    expect(heapMi).toBeLessThan(limitMi);
  });

  it('runs non-root, read-only, without capabilities, privilege escalation or a custom seccomp profile', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    const sc = container.securityContext;
    expect(sc.runAsNonRoot).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add).toBeUndefined();
    expect(sc.seccompProfile.type).toBe('RuntimeDefault');
    expect(pod.automountServiceAccountToken).toBe(false);
    // The numeric user the image declares, so runAsNonRoot can be verified.
    const dockerUser = /^USER (\d+)/m.exec(readFileSync(join(REPO, 'Dockerfile'), 'utf8'))?.[1];
    expect(String(sc.runAsUser)).toBe(dockerUser);
    // The only writable place is /tmp, an emptyDir.
    const tmp = container.volumeMounts.find((m: Doc) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: Doc) => v.name === tmp.name).emptyDir).toBeDefined();
  });

  it('gives sessions their SHUTDOWN_GRACE_S before Kubernetes kills the pod', () => {
    const grace = shutdownGraceSeconds(configMap.data.SHUTDOWN_GRACE_S);
    expect(grace).toBeGreaterThan(0);
    const preStop = container.lifecycle.preStop.exec.command.join(' ');
    const preStopSeconds = Number(/setTimeout\(.*?(\d+)\)/.exec(preStop)?.[1]) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(grace + preStopSeconds + 10);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(shutdownGraceSeconds(undefined));
  });

  it('takes configuration from the ConfigMap and secrets from a Secret, with names the gateway reads', () => {
    const refs = container.envFrom.map((e: Doc) => e.configMapRef?.name ?? e.secretRef?.name);
    expect(refs).toEqual([configMap.metadata.name, 'vnc-gateway-secrets']);
    const overlay = loadYaml(join(DEPLOY, 'kubernetes/overlays/example/config.yaml'))[0]!;
    for (const key of [...Object.keys(configMap.data), ...Object.keys(overlay.data)]) expect(KNOWN_VARIABLES, key).toContain(key);
    for (const secret of ['TENCENTCLOUD_SECRET_KEY', 'REDIS_URL']) expect(Object.keys(configMap.data)).not.toContain(secret);
    // With the Secret's keys added, the ConfigMap is a valid configuration.
    expect(() => loadConfig({ ...configMap.data, TENCENTCLOUD_SECRET_ID: 'AKIDx', TENCENTCLOUD_SECRET_KEY: 'k', REDIS_URL: 'rediss://redis.internal:6380' })).not.toThrow();
    const policyMount = container.volumeMounts.find((m: Doc) => configMap.data.POLICY_FILE.startsWith(`${m.mountPath}/`));
    expect(policyMount).toBeDefined();
  });

  it('keeps the audit trail in a Redis stream, the one durable and queryable store a pod has', () => {
    // The root filesystem is read-only and /tmp a small in-memory emptyDir: an AUDIT_FILE there
    // would die with the pod, and stdout's chain restarts with each one. Without a stream,
    // GET /api/v1/audit would answer 404.
    expect(configMap.data.AUDIT_REDIS_STREAM).toMatch(/^\S+$/);
    expect(() => streamHeadKey(configMap.data.AUDIT_REDIS_STREAM)).not.toThrow();
    const config = loadConfig({ ...configMap.data, TENCENTCLOUD_SECRET_ID: 'AKIDx', TENCENTCLOUD_SECRET_KEY: 'k', REDIS_URL: 'redis://vnc-gateway-redis:6379' });
    expect(config.audit.redisStream).toBe(configMap.data.AUDIT_REDIS_STREAM);
    if (configMap.data.AUDIT_FILE !== undefined) {
      const mount = container.volumeMounts.find((m: Doc) => configMap.data.AUDIT_FILE.startsWith(`${m.mountPath}/`));
      expect(pod.volumes.find((v: Doc) => v.name === mount?.name)?.persistentVolumeClaim, 'AUDIT_FILE on a persistent volume').toBeDefined();
    }
    // The example overlay's trial Redis keeps 200 MB: its stream must fit (about 1 KB a record).
    const overlay = loadYaml(join(DEPLOY, 'kubernetes/overlays/example/config.yaml'))[0]!;
    const trialArgs: string[] = loadYaml(join(DEPLOY, 'kubernetes/redis-trial/statefulset.yaml'))[0]!.spec.template.spec.containers[0].args;
    const maxMemoryMb = Number(/^(\d+)mb$/.exec(trialArgs[trialArgs.indexOf('--maxmemory') + 1]!)?.[1]);
    expect(Number(overlay.data.AUDIT_REDIS_MAXLEN) * 1024).toBeLessThan(maxMemoryMb * 1024 * 1024 / 2);
    const guide = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
    expect(guide).toMatch(/\*\*Where the audit trail lives\.\*\*[^\n]*\n[\s\S]*?AUDIT_REDIS_STREAM[\s\S]*?persistence/);
  });

  it('is selected by the Service, the PodDisruptionBudget, the autoscaler and the NetworkPolicy', () => {
    const labels = deployment.spec.template.metadata.labels;
    const matches = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(matches(base('service.yaml').spec.selector)).toBe(true);
    expect(matches(base('pdb.yaml').spec.selector.matchLabels)).toBe(true);
    expect(matches(base('networkpolicy.yaml').spec.podSelector.matchLabels)).toBe(true);
    const hpa = base('hpa.yaml');
    expect(hpa.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    expect(hpa.spec.scaleTargetRef.kind).toBe('Deployment');
    expect(base('pdb.yaml').spec.maxUnavailable).toBe(1);
  });
});

describe('the Ingress and the NetworkPolicy', () => {
  it('keeps WebSockets open for an hour and publishes only the public paths', () => {
    const ingress = base('ingress.yaml');
    const annotations = ingress.metadata.annotations;
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(3600);
    const rules: Doc[] = ingress.spec.rules.flatMap((r: Doc) => r.http.paths);
    const prefixes = rules.filter((p) => p.pathType === 'Prefix').map((p) => p.path as string);
    expect(prefixes).toEqual(expect.arrayContaining(['/ws/', '/api/', '/console/', '/assets/']));
    for (const internal of ['/metrics', '/healthz', '/readyz']) {
      expect(prefixes.some((prefix) => internal.startsWith(prefix)), internal).toBe(false);
      expect(rules.some((p) => p.path === internal)).toBe(false);
    }
    // The instance picker lives at / exactly; a / prefix would publish everything.
    expect(rules.find((p) => p.path === '/')?.pathType).toBe('Exact');
  });

  it('lets the gateway reach only DNS, Redis and HTTPS', () => {
    const policy = base('networkpolicy.yaml');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const ports = policy.spec.egress.flatMap((rule: Doc) => rule.ports.map((p: Doc) => p.port)).sort((a: number, b: number) => a - b);
    expect(ports).toEqual([53, 53, 443, 6379, 6380]);
    for (const rule of policy.spec.egress) expect(rule.to?.length, 'every egress rule names its destinations').toBeGreaterThan(0);
  });

  it.skipIf(!hasKubectl())('renders with kustomize (base and the example overlay)', () => {
    for (const dir of ['base', 'overlays/example']) {
      const rendered = execFileSync('kubectl', ['kustomize', join(DEPLOY, 'kubernetes', dir)], { encoding: 'utf8', timeout: 30_000 });
      const kinds = parseAllDocuments(rendered).map((d) => (d.toJS() as Doc).kind);
      expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'Ingress', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ConfigMap']));
      if (dir !== 'base') expect(kinds).toContain('StatefulSet');
    }
  });
});

/**
 * The objects an overlay applies, by hand (kubectl may be absent): its resources, followed
 * recursively, with its JSON 6902 patches (`op` lists with a `target`) applied. Strategic
 * merge patches and generators are left out: nothing checked here depends on them.
 */
function renderByHand(dir: string): Doc[] {
  const kustomization = loadYaml(join(dir, 'kustomization.yaml'))[0]!;
  const objects: Doc[] = [];
  for (const resource of (kustomization.resources ?? []) as string[]) {
    const path = join(dir, resource);
    objects.push(...(statSync(path).isDirectory() ? renderByHand(path) : loadYaml(path)));
  }
  for (const patch of (kustomization.patches ?? []) as Doc[]) {
    if (patch.target === undefined) continue;
    const ops = loadYaml(join(dir, patch.path))[0] as unknown as Doc[];
    for (const object of objects.filter((o) => o.kind === patch.target.kind && o.metadata.name === patch.target.name)) {
      for (const { op, path, value } of ops) {
        const segments = (path as string).split('/').slice(1);
        const last = segments.pop()!;
        const parent = segments.reduce((node: Doc, key) => node[key], object);
        if (op === 'replace' || op === 'add') parent[last] = value;
        else if (op === 'remove') Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
        else throw new Error(`unsupported patch op ${op}`);
      }
    }
  }
  return objects;
}

/** The `sh` blocks of one `## ` section of the operator's guide. */
function guideShellBlocks(heading: string): string[] {
  const guide = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
  const start = guide.indexOf(`\n## ${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const end = guide.indexOf('\n## ', start + 1);
  return [...guide.slice(start, end === -1 ? undefined : end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe("the guide's Kubernetes steps", () => {
  it('put a REDIS_URL in the Secret that the applied overlay lets the gateway reach', () => {
    const blocks = guideShellBlocks('Kubernetes').filter((b) => b.includes('REDIS_URL='));
    expect(blocks).toHaveLength(1);
    const url = new URL(/--from-literal=REDIS_URL=(\S+)/.exec(blocks[0]!)![1]!);
    const overlay = /kubectl apply -k (\S+)/.exec(blocks[0]!)![1]!;
    const objects = renderByHand(join(REPO, overlay));
    const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'vnc-gateway')!;
    const port = Number(url.port || 6379);
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === url.hostname.split('.')[0]);
    if (service !== undefined) {
      // A Redis in the cluster: the policy must let the gateway reach the pods behind the
      // Service, on their port (NetworkPolicy sees the pod's port, not the Service's).
      const servicePort = service.spec.ports.find((p: Doc) => p.port === port);
      expect(servicePort, `the Service ${service.metadata.name} listens on ${port}`).toBeDefined();
      const pods = objects.find((o) => o.spec?.template && Object.entries(service.spec.selector).every(([k, v]) => o.spec.template.metadata.labels[k] === v))!;
      const containerPort = pods.spec.template.spec.containers.flatMap((c: Doc) => c.ports).find((p: Doc) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort).containerPort;
      const allowed = policy.spec.egress.some((rule: Doc) =>
        rule.ports.some((p: Doc) => p.port === containerPort) &&
        rule.to.some((to: Doc) => to.podSelector !== undefined && Object.entries(to.podSelector.matchLabels).every(([k, v]) => pods.spec.template.metadata.labels[k] === v)));
      expect(allowed, `egress to ${service.metadata.name}'s pods on ${containerPort}`).toBe(true);
    } else {
      // A Redis outside the cluster (a managed instance): an address block on that port.
      const allowed = policy.spec.egress.some((rule: Doc) => rule.ports.some((p: Doc) => p.port === port) && rule.to.some((to: Doc) => to.ipBlock !== undefined));
      expect(allowed, `egress to ${url.host}`).toBe(true);
    }
  });
});

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

describe('the compose trial', () => {
  const compose = loadYaml(join(DEPLOY, 'compose.yaml'))[0]!;
  const services = compose.services as Record<string, Doc>;

  it('runs two hardened gateway replicas behind nginx, with Redis and the simulator', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['gateway', 'redis', 'nginx', 'simulator']));
    const gateway = services.gateway!;
    expect(gateway.deploy.replicas).toBe(2);
    expect(gateway.read_only).toBe(true);
    expect(gateway.cap_drop).toEqual(['ALL']);
    expect(gateway.tmpfs).toContain('/tmp');
    expect(parseInt(gateway.stop_grace_period, 10)).toBeGreaterThan(shutdownGraceSeconds(gateway.environment.SHUTDOWN_GRACE_S));
    expect(services.nginx!.volumes.some((v: string) => v.startsWith('./nginx/'))).toBe(true);
  });

  it("configures the gateway with names it reads and a configuration it accepts", () => {
    const env = services.gateway!.environment as Record<string, string>;
    for (const key of Object.keys(env)) expect(KNOWN_VARIABLES, key).toContain(key);
    expect(() => loadConfig(env)).not.toThrow();
    expect(env.UPSTREAM_HOSTS).toBe(services.simulator!.environment.SIM_PUBLIC_HOST);
  });

  it('signs trial tokens the gateway verifies (same issuer, audience and cookie)', async () => {
    const env = services.gateway!.environment as Record<string, string>;
    const signIn = services['trial-sign-in']!.environment as Record<string, string>;
    expect(signIn.TRIAL_COOKIE).toBe(env.AUTH_TOKEN_COOKIE);
    const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-trial-'));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'idp-private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const token = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [join(DEPLOY, 'trial/trial-sign-in.mjs'), '--print-token'], {
        env: { ...signIn, PATH: process.env.PATH ?? '', TRIAL_PRIVATE_KEY_FILE: join(dir, 'idp-private.pem') },
        timeout: 15_000,
      }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
    });
    const { payload } = await jwtVerify(token, createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })), { issuer: env.AUTH_ISSUER, audience: env.AUTH_AUDIENCE });
    const policy = loadYaml(join(DEPLOY, 'trial/policy.yaml'))[0]!;
    expect(payload.groups).toEqual(policy.rules[0].groups);
  });

  it('proxies WebSockets through nginx with upgrade headers and long timeouts', () => {
    const conf = readFileSync(join(DEPLOY, 'nginx/gateway.conf'), 'utf8');
    const ws = /location \/ws\/ \{([\s\S]*?)\n {4}\}/.exec(conf)?.[1] ?? '';
    expect(ws).toMatch(/proxy_http_version 1\.1;/);
    expect(ws).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(ws).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(Number(/proxy_read_timeout (\d+)s;/.exec(ws)?.[1])).toBeGreaterThanOrEqual(3600);
    expect(conf).toMatch(/location = \/metrics \{\s*return 404;/);
  });
});

describe('the SIEM forwarding example', () => {
  const vector = loadYaml(join(DEPLOY, 'siem/vector.yaml'))[0]!;

  it('forwards the audit lines unchanged and routes a line that is not JSON to audit_unparsed', () => {
    const sinks = vector.sinks as Record<string, Doc>;
    const transforms = vector.transforms as Record<string, Doc>;
    const unparsedInputs: string[] = sinks.audit_unparsed!.inputs;
    expect(unparsedInputs).toHaveLength(1);
    const [transformName, output] = unparsedInputs[0]!.split('.');
    expect(output).toBe('dropped');
    const remap = transforms[transformName!]!;
    expect(remap.type).toBe('remap');
    // Vector sends failed events to `.dropped` only when they are dropped; otherwise a line
    // that fails to parse continues down the main output as if it were a record.
    expect(remap.drop_on_error).toBe(true);
    expect(remap.reroute_dropped).toBe(true);
    expect(remap.inputs).toEqual(Object.keys(vector.sources));
    expect(sinks.siem_http!.inputs).toEqual([transformName]);
  });
});

describe('the monitoring files', () => {
  const metricNames = (): Set<string> => {
    const names = new Set<string>(['up']);
    const registry = createGatewayMetrics().registry;
    for (const metric of registry.getMetricsAsArray()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
    return names;
  };
  const referenced = (text: string): string[] => [...new Set(text.match(/\b(?:vnc_gateway|process|nodejs)_[a-z0-9_]+\b/g) ?? [])];

  it('alert on metrics the gateway exports', () => {
    const known = metricNames();
    const rules = loadYaml(join(DEPLOY, 'monitoring/alerts.yaml'))[0]!;
    const exprs = rules.groups.flatMap((g: Doc) => g.rules.map((r: Doc) => String(r.expr)));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    for (const name of referenced(exprs.join('\n'))) expect(known, name).toContain(name);
    const alertNames = rules.groups.flatMap((g: Doc) => g.rules.map((r: Doc) => r.alert));
    expect(alertNames).toEqual(expect.arrayContaining(['VncGatewayDown', 'VncGatewayNotReady', 'VncGatewayTencentApiErrors', 'VncGatewayStateUnavailableRefusals', 'VncGatewayAuditSinkUnhealthy']));
  });

  it('chart metrics the gateway exports', () => {
    const known = metricNames();
    const dashboard = readFileSync(join(DEPLOY, 'monitoring/grafana-dashboard.json'), 'utf8');
    const names = referenced(dashboard);
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(known, name).toContain(name);
  });

  it('are documented: every gateway metric is in docs/operations.md', () => {
    const guide = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
    for (const name of metricNames()) {
      if (name.startsWith('vnc_gateway_') && !/_(bucket|sum|count)$/.test(name)) expect(guide, name).toContain(`\`${name}\``);
    }
  });
});
