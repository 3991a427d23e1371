import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { MODEL_KEY_VARS, SETTINGS } from '@agentq/shared';
import { compiledPath } from '../scripts/build/build-packages.js';
import { argsOf, execForm, parseDockerfile, stageChain } from './support/dockerfile.js';
import { kustomize, kustomizeWith, requireKubectl, type Manifest } from './support/kustomize.js';
import { documentedSecretKeys } from './support/secret-keys.js';
import { validateStrictly } from './support/strict-validate.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const K8S = join(ROOT, 'deploy/k8s');
const OVERLAYS = readdirSync(join(K8S, 'overlays'));
const COMPONENTS = readdirSync(join(K8S, 'components'));
/** keda and hpa are alternatives (both scale the dispatcher); monitoring goes with either. */
const COMPONENT_SETS = [[], ...COMPONENTS.map((c) => [c]), ['keda', 'monitoring'], ['hpa', 'monitoring']];
/** Each Deployment, the Dockerfile target its image is built from, and the source of the service that target runs. */
const SERVICES = {
  'agentq-ingress': { target: 'ingress', main: 'services/ingress/src/main.ts' },
  'agentq-dispatcher': { target: 'dispatcher', main: 'services/dispatcher/src/main.ts' },
  'agentq-relay': { target: 'relay', main: 'services/log-relay/src/main.ts' },
} as const;
const DOCKERFILE = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const PRE_STOP_MS = 5000;

type Obj = Record<string, unknown>;
type EnvVar = { name: string; value?: string; valueFrom?: Obj };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string; optional?: boolean } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Obj; limits?: Obj };
  securityContext?: Obj & { capabilities?: { drop?: string[] }; seccompProfile?: { type: string } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes?: (Obj & { name: string })[];
  terminationGracePeriodSeconds?: number;
  securityContext?: Obj & { seccompProfile?: { type: string } };
};

const key = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
const podSpec = (m: Manifest) => ((m.spec as Obj).template as Obj).spec as PodSpec;
const podLabels = (m: Manifest) => (((m.spec as Obj).template as Obj).metadata as { labels: Record<string, string> }).labels;
const deploymentsOf = (ms: Manifest[]) => ms.filter((m) => m.kind === 'Deployment');
const matches = (selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] }, labels: Record<string, string>) =>
  Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (selector.matchExpressions ?? []).every((e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? ''));

function readYamlDocs(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
}

/** Metric names the services define (string literals `'agentq_…'` in their sources). */
function knownMetrics(): Set<string> {
  const dirs = ['shared/src', ...readdirSync(join(ROOT, 'services')).map((s) => `services/${s}/src`)];
  const sources = dirs.flatMap((dir) =>
    (readdirSync(join(ROOT, dir), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(ROOT, dir, f), 'utf8')),
  );
  return new Set(sources.flatMap((text) => [...text.matchAll(/'(agentq_[a-z0-9_]+)'/g)].map((m) => m[1] ?? '')));
}

/** Metric names docs/operations.md and docs/gateway.md describe. */
function documentedMetrics(): Set<string> {
  const docs = ['operations.md', 'gateway.md'].map((f) => readFileSync(join(ROOT, 'docs', f), 'utf8')).join('\n');
  return new Set(docs.match(/\bagentq_[a-z0-9_]+/g) ?? []);
}

/** The agentq metric names a PromQL expression uses, histogram series (`_bucket`, `_sum`, `_count`) named by their histogram. */
function metricsIn(expr: string, known: Set<string>): string[] {
  return (expr.match(/\bagentq_[a-z0-9_]+/g) ?? []).map((name) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return base !== name && known.has(base) ? base : name;
  });
}

beforeAll(() => {
  requireKubectl();
});

describe('strict validation of manifests', () => {
  const deployment = (): Manifest => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x', labels: { a: 'b' } },
    spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i:1', imagePullPolicy: 'Always' }] } } },
  });

  it('is needed: the models of kubernetes-models accept misspelled fields', () => {
    const broken = deployment();
    const spec = broken.spec as Obj;
    spec.replica = spec.replicas;
    delete spec.replicas;
    expect(() => new Deployment(structuredClone(broken) as never).validate()).not.toThrow();
  });

  it('accepts a correct object and names every misspelled field', () => {
    expect(() => validateStrictly(deployment())).not.toThrow();
    const broken = deployment();
    const spec = broken.spec as Obj;
    spec.replica = 1;
    const container = podSpec(broken).containers[0] as Obj;
    container.imagePullPolcy = container.imagePullPolicy;
    expect(() => validateStrictly(broken)).toThrow(/unknown fields: .*\/spec\/replica\b/);
    expect(() => validateStrictly(broken)).toThrow(/unknown fields: .*\/spec\/template\/spec\/containers\/0\/imagePullPolcy\b/);
  });

  it('still rejects wrong types, and checks KEDA and Prometheus Operator objects the same way', () => {
    const wrongType = deployment();
    ((podSpec(wrongType).containers[0] as Obj).ports as unknown) = [{ containerPort: 'eighty' }];
    expect(() => validateStrictly(wrongType)).toThrow(/containerPort/);
    const scaledObject = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { scaleTargetRef: { name: 'x' }, minReplicaCount: 0, triggers: [{ type: 'prometheus', metadata: { query: 'up' } }] } };
    expect(() => validateStrictly(scaledObject)).not.toThrow();
    expect(() => validateStrictly({ ...scaledObject, spec: { ...scaledObject.spec, minReplicas: 0 } })).toThrow('unknown fields: /spec/minReplicas');
    const rule = { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'x' }, spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: '5m' }] }] } };
    expect(() => validateStrictly(rule)).not.toThrow();
    expect(() => validateStrictly({ ...rule, spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', fro: '5m' }] }] } })).toThrow('unknown fields: /spec/groups/0/rules/0/fro');
    expect(() => validateStrictly({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow('no model for v1 Pod');
  });
});

describe('kubectl kustomize of deploy/k8s', () => {
  it('fails on a broken kustomization (errors are failures)', () => {
    expect(() => kustomize(join(K8S, 'components'))).toThrow(/kubectl kustomize .* failed/);
  });

  const combinations = OVERLAYS.flatMap((overlay) => COMPONENT_SETS.map((components) => [overlay, components] as const));
  it.each(combinations)('overlays/%s with components %j renders into strictly valid objects in the overlay namespace', (overlay, components) => {
    const manifests = kustomizeWith(
      join(K8S, 'overlays', overlay),
      components.map((c) => join(K8S, 'components', c)),
    );
    for (const m of manifests) expect(() => validateStrictly(m), key(m)).not.toThrow();
    expect(new Set(manifests.map(key)).size, 'no duplicate names').toBe(manifests.length);
    const namespace = manifests.find((m) => m.kind === 'Namespace')?.metadata.name;
    expect(namespace).toBeDefined();
    for (const m of manifests.filter((x) => x.kind !== 'Namespace')) expect(m.metadata.namespace, key(m)).toBe(namespace);
    if (components.includes('keda')) expect(manifests.some((m) => m.kind === 'ScaledObject')).toBe(true);
    if (components.includes('hpa')) expect(manifests.some((m) => m.kind === 'HorizontalPodAutoscaler')).toBe(true);
  });

  it('the base renders strictly valid objects too', () => {
    for (const m of kustomize(join(K8S, 'base'))) expect(() => validateStrictly(m), key(m)).not.toThrow();
  });
});

describe.each(OVERLAYS)('overlays/%s', (overlay) => {
  const manifests = kustomize(join(K8S, 'overlays', overlay));
  const byKey = new Map(manifests.map((m) => [key(m), m]));
  const config = byKey.get('ConfigMap/agentq-config')?.data as Record<string, string>;
  const deployments = deploymentsOf(manifests);

  it('runs the three services, each from its own image (whose command starts it) on its configured port', () => {
    const agentq = deployments.filter((d) => d.metadata.name in SERVICES);
    expect(agentq.map((d) => d.metadata.name).sort()).toEqual(Object.keys(SERVICES).sort());
    for (const d of agentq) {
      const [container] = podSpec(d).containers;
      const { target, main } = SERVICES[d.metadata.name as keyof typeof SERVICES];
      expect(container?.image).toMatch(new RegExp(`(^|/)agentq-${target}:`));
      expect(container?.args).toBeUndefined();
      expect(container?.command).toBeUndefined();
      expect(execForm(argsOf(stageChain(DOCKERFILE, target), 'CMD').at(-1))).toEqual(['node', '--conditions=agentq-dist', compiledPath(main)]);
      const portVar = { 'agentq-ingress': 'AGENTQ_PORT', 'agentq-dispatcher': 'AGENTQ_DISPATCHER_PORT', 'agentq-relay': 'AGENTQ_RELAY_PORT' }[d.metadata.name] ?? '';
      expect(String(container?.ports?.[0]?.containerPort)).toBe(config[portVar]);
      for (const c of podSpec(d).initContainers ?? []) {
        // a compiled file of the same image, built from a source that exists
        expect(c.image, c.name).toBe(container?.image);
        expect(c.args?.slice(0, 2)).toEqual(['node', '--conditions=agentq-dist']);
        const source = (c.args?.[2] ?? '').replace('/dist/', '/src/').replace(/\.js$/, '.ts');
        expect(compiledPath(source)).toBe(c.args?.[2]);
        expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      }
    }
    expect(config.AGENTQ_HOST).toBe('0.0.0.0');
    const ingress = podSpec(byKey.get('Deployment/agentq-ingress') as Manifest).containers[0];
    expect(String(ingress?.ports?.find((p) => p.name === 'ops')?.containerPort)).toBe(config.AGENTQ_INGRESS_OPS_PORT);
  });

  it('leaves the dispatcher replica count to the autoscaler', () => {
    expect((byKey.get('Deployment/agentq-dispatcher')?.spec as Obj).replicas).toBeUndefined();
  });

  it('gives every Deployment a PodDisruptionBudget, probes, resources and the hardened security context', () => {
    const budgets = manifests.filter((m) => m.kind === 'PodDisruptionBudget');
    for (const d of deployments) {
      const covering = budgets.filter((b) => matches((b.spec as { selector: Obj }).selector as never, podLabels(d)));
      expect(covering, `${d.metadata.name}: one PDB`).toHaveLength(1);
      const spec = podSpec(d);
      expect(spec.securityContext?.seccompProfile?.type, d.metadata.name).toBe('RuntimeDefault');
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const where = `${d.metadata.name}/${c.name}`;
        expect(c.securityContext, where).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
        expect(Object.keys(c.resources?.requests ?? {}).sort(), where).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort(), where).toEqual(['cpu', 'memory']);
        for (const mount of c.volumeMounts ?? []) expect(spec.volumes?.map((v) => v.name), where).toContain(mount.name);
      }
      for (const c of spec.containers) {
        expect(c.livenessProbe, `${d.metadata.name}: liveness`).toBeDefined();
        expect(c.readinessProbe, `${d.metadata.name}: readiness`).toBeDefined();
      }
    }
  });

  it('drains before shutdown and shuts down within the grace period; /tmp is writable', () => {
    const shutdownMs = Number(config.AGENTQ_SHUTDOWN_TIMEOUT_MS);
    expect(shutdownMs).toBeGreaterThan(0);
    for (const d of deployments.filter((x) => x.metadata.name in SERVICES)) {
      const spec = podSpec(d);
      const [c] = spec.containers as [Container];
      expect(c.lifecycle?.preStop?.exec?.command).toEqual(['sleep', String(PRE_STOP_MS / 1000)]);
      expect((spec.terminationGracePeriodSeconds ?? 30) * 1000, d.metadata.name).toBeGreaterThan(PRE_STOP_MS + shutdownMs);
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(c.ports?.map((p) => p.name)).toContain(c.readinessProbe?.httpGet?.port);
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${d.metadata.name}: /tmp emptyDir`).toBeDefined();
    }
  });

  it('reads the one Secret whole; every documented key reaches its services, model keys the ingress only', () => {
    const documented = documentedSecretKeys(join(K8S, 'README.md'));
    expect(documented.size).toBeGreaterThan(15);
    const settings = new Set(SETTINGS.map((s) => s.env));
    for (const k of documented.keys()) expect(settings, `${k} is a setting`).toContain(k);
    const containers = new Map(deployments.filter((d) => d.metadata.name in SERVICES).map((d) => [d.metadata.name.replace('agentq-', ''), podSpec(d).containers[0] as Container]));
    for (const [k, services] of documented) {
      for (const service of services) {
        const c = containers.get(service);
        expect(c, `${k}: service ${service}`).toBeDefined();
        expect(c?.envFrom?.map((e) => e.secretRef?.name), `${service} reads agentq-secrets`).toContain('agentq-secrets');
        expect(c?.env?.find((e) => e.name === k), `${service} does not override ${k}`).toBeUndefined();
      }
    }
    for (const [service, c] of containers) {
      expect(c.env?.filter((e) => e.valueFrom && 'secretKeyRef' in e.valueFrom) ?? [], `${service}: no per-key secret references`).toEqual([]);
      for (const modelKey of MODEL_KEY_VARS) {
        const override = c.env?.find((e) => e.name === modelKey);
        if (service === 'ingress') expect(override).toBeUndefined();
        else expect(override, `${service} blanks ${modelKey}`).toEqual({ name: modelKey, value: '' });
      }
    }
    const generated = byKey.get('Secret/agentq-secrets');
    if (generated) for (const required of ['REDIS_URL', 'AGENTQ_API_TOKENS', 'AGENTQ_VIEWER_SECRET']) expect(Object.keys(generated.data as Obj)).toContain(required);
  });

  it('lets NetworkPolicies select every agentq pod on ports the pods declare', () => {
    const policies = manifests.filter((m) => m.kind === 'NetworkPolicy');
    for (const d of deployments) {
      const selecting = policies.filter((p) => matches((p.spec as { podSelector: Obj }).podSelector as never, podLabels(d)));
      expect(selecting.length, `${d.metadata.name} is covered`).toBeGreaterThan(0);
      const names = podSpec(d).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
      for (const p of selecting) {
        for (const rule of (p.spec as { ingress: { ports: { port: string }[] }[] }).ingress) for (const port of rule.ports) expect(names, key(p)).toContain(port.port);
      }
    }
  });

  it('lets only the monitoring namespace reach the ops ports (/metrics names teams)', () => {
    const rules = manifests
      .filter((m) => m.kind === 'NetworkPolicy')
      .flatMap((p) => (p.spec as { ingress: { from: Obj[]; ports: { port: string }[] }[] }).ingress);
    const opsRules = rules.filter((r) => r.ports.some((p) => p.port === 'ops'));
    expect(opsRules.length).toBeGreaterThan(0);
    for (const rule of opsRules) {
      expect(rule.ports.map((p) => p.port)).toEqual(['ops']);
      expect(rule.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    }
  });

  it('has Services that select pods and target their ports, and pinned images', () => {
    for (const service of manifests.filter((m) => m.kind === 'Service')) {
      const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
      const target = deployments.find((d) => matches({ matchLabels: spec.selector }, podLabels(d)));
      expect(target, `${key(service)} selects pods`).toBeDefined();
      const names = podSpec(target as Manifest).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
      for (const port of spec.ports) expect(names).toContain(port.targetPort);
    }
    for (const c of deployments.flatMap((d) => [...podSpec(d).containers, ...(podSpec(d).initContainers ?? [])])) {
      expect(c.image, c.name).toMatch(/(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
      expect(c.image, c.name).not.toMatch(/:latest$/);
    }
  });
});

describe('the prod overlay', () => {
  const manifests = kustomize(join(K8S, 'overlays/prod'));
  const config = manifests.find((m) => key(m) === 'ConfigMap/agentq-config')?.data as Record<string, string>;

  it('runs tasks in Modal, keeps transcripts in S3 and shares no volume', () => {
    expect(config.AGENTQ_SANDBOX_PROVIDER).toBe('modal');
    expect(config.AGENTQ_SANDBOX_IMAGE).toMatch(/:\d{4}-\d{2}-\d{2}$/);
    expect(config.AGENTQ_ARCHIVE_URL).toMatch(/^s3:\/\/[a-z0-9.-]+\/\w+/);
    expect(config.AGENTQ_HARNESS).toBe('claude-code');
    expect(manifests.filter((m) => m.kind === 'PersistentVolumeClaim')).toEqual([]);
    for (const d of deploymentsOf(manifests)) for (const v of podSpec(d).volumes ?? []) expect(v.persistentVolumeClaim, `${d.metadata.name}/${v.name}`).toBeUndefined();
  });

  it('gives sandboxes the public address of the model gateway, which the Ingress serves', () => {
    expect(config.AGENTQ_GATEWAY_URL).toMatch(/^https:\/\//);
    expect(config.AGENTQ_GATEWAY_URL).toBe(config.AGENTQ_PUBLIC_URL);
    const ingress = manifests.find((m) => m.kind === 'Ingress')?.spec as { ingressClassName?: string; rules: { host: string }[] };
    expect(ingress.ingressClassName).toBeTruthy();
    expect(ingress.rules.map((r) => r.host)).toContain(new URL(config.AGENTQ_GATEWAY_URL ?? '').host);
    for (const d of deploymentsOf(manifests)) expect(podSpec(d).containers[0]?.image).toMatch(/^registry\.example\.com\/agentq-(ingress|dispatcher|relay):\d{4}-\d{2}-\d{2}$/);
  });

  it('ships secret.example.yaml with exactly the documented keys, outside the kustomization', () => {
    const [secret] = readYamlDocs(join(K8S, 'overlays/prod/secret.example.yaml'));
    expect(() => validateStrictly(secret as Manifest)).not.toThrow();
    expect(Object.keys((secret as Manifest).stringData as Obj).sort()).toEqual([...documentedSecretKeys(join(K8S, 'README.md')).keys()].sort());
    const kustomization = readFileSync(join(K8S, 'overlays/prod/kustomization.yaml'), 'utf8');
    expect(parse(kustomization).resources).not.toContain('secret.example.yaml');
  });
});

describe('components', () => {
  const known = knownMetrics();
  const documented = documentedMetrics();

  it('keda scales the dispatcher on waiting and running tasks, down to zero', () => {
    const [scaled] = kustomizeWith(join(K8S, 'overlays/prod'), [join(K8S, 'components/keda')]).filter((m) => m.kind === 'ScaledObject');
    const spec = scaled?.spec as { scaleTargetRef: Obj; minReplicaCount: number; triggers: { type: string; metadata: Record<string, string> }[] };
    expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'agentq-dispatcher' });
    expect(spec.minReplicaCount).toBe(0);
    const query = spec.triggers[0]?.metadata.query ?? '';
    expect(metricsIn(query, known).sort()).toEqual(['agentq_queue_active', 'agentq_queue_waiting']);
    for (const name of metricsIn(query, known)) expect(known).toContain(name);
  });

  it('hpa scales on metrics the prometheus-adapter rules serve', () => {
    const values = parse(readFileSync(join(K8S, 'components/hpa/prometheus-adapter-values.yaml'), 'utf8')) as { rules: { external: { name: { as: string } }[]; custom: { name: { as: string } }[] } };
    const [hpa] = kustomizeWith(join(K8S, 'overlays/dev'), [join(K8S, 'components/hpa')]).filter((m) => m.kind === 'HorizontalPodAutoscaler');
    const metrics = (hpa?.spec as { metrics: { external?: { metric: { name: string } }; pods?: { metric: { name: string } } }[] }).metrics;
    expect(values.rules.external.map((r) => r.name.as)).toEqual(metrics.flatMap((m) => (m.external ? [m.external.metric.name] : [])));
    expect(values.rules.custom.map((r) => r.name.as)).toEqual(metrics.flatMap((m) => (m.pods ? [m.pods.metric.name] : [])));
    for (const name of [...values.rules.external, ...values.rules.custom].map((r) => r.name.as)) expect(known).toContain(name);
  });

  describe('monitoring', () => {
    const manifests = kustomizeWith(join(K8S, 'overlays/prod'), [join(K8S, 'components/monitoring')]);

    it('knows the metrics from the code: a misspelled name is not known', () => {
      expect(known).toContain('agentq_queue_wait_seconds');
      expect(known).toContain('agentq_gateway_cost_usd_total');
      expect(metricsIn('rate(agentq_dispatcher_task_duration_seconds_bucket[5m])', known)).toEqual(['agentq_dispatcher_task_duration_seconds']);
      expect(known).not.toContain('agentq_gateway_spend_usd_total');
    });

    it('scrapes every agentq pod on its private ops port', () => {
      const monitor = manifests.find((m) => m.kind === 'PodMonitor')?.spec as { selector: Obj; podMetricsEndpoints: { port: string; path: string }[] };
      for (const d of deploymentsOf(manifests)) {
        expect(matches(monitor.selector as never, podLabels(d)), d.metadata.name).toBe(true);
        const ports = podSpec(d).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
        expect(monitor.podMetricsEndpoints.filter((e) => ports.includes(e.port)), d.metadata.name).toHaveLength(1);
      }
      expect(monitor.podMetricsEndpoints.map((e) => [e.port, e.path])).toEqual([['ops', '/metrics']]);
    });

    it('alerts on the queue, the relay, hand-overs, callbacks and budgets with metric names that exist', () => {
      const rules = (manifests.find((m) => m.kind === 'PrometheusRule')?.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
      const used = new Set(rules.flatMap((r) => metricsIn(r.expr, known)));
      for (const r of rules) {
        expect(metricsIn(r.expr, known).length, r.alert).toBeGreaterThan(0);
        for (const name of metricsIn(r.expr, known)) {
          expect(known, `${r.alert}: ${name}`).toContain(name);
          expect(documented, `${r.alert}: ${name} in docs`).toContain(name);
        }
      }
      for (const name of ['agentq_queue_wait_seconds', 'agentq_relay_lag_events', 'agentq_dispatcher_tasks_handed_over_total', 'agentq_relay_callbacks_total', 'agentq_gateway_refusals_total']) expect(used).toContain(name);
    });

    it('provisions a Grafana dashboard whose panels use metric names that exist', () => {
      const configMap = manifests.find((m) => key(m) === 'ConfigMap/agentq-grafana-dashboard') as Manifest & { data: Record<string, string> };
      expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
      const dashboard = JSON.parse(configMap.data['agentq-dashboard.json'] ?? '') as { panels: { title: string; targets: { expr: string }[] }[] };
      const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join('\n');
      for (const topic of ['queue depth', 'wait time', 'by provider', 'by team', 'outcomes', 'durations', 'relay lag', 'slack and callback failures', 'model spend']) expect(titles).toContain(topic);
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          expect(metricsIn(target.expr, known).length, panel.title).toBeGreaterThan(0);
          for (const name of metricsIn(target.expr, known)) {
            expect(known, `${panel.title}: ${name}`).toContain(name);
            expect(documented, `${panel.title}: ${name} in docs`).toContain(name);
          }
        }
      }
    });
  });
});
