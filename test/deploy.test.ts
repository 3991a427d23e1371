import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '@agentq/shared';
import { IMAGE_DEMO_AGENT_PATH } from '@agentq/dispatcher';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const K8S = join(ROOT, 'deploy/k8s');
const SERVICE_ENTRIES = ['services/ingress/src/main.ts', 'services/dispatcher/src/main.ts', 'services/log-relay/src/main.ts'];

type Obj = Record<string, unknown>;
type Manifest = Obj & { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } };

/** The model class of every kind the manifests use; `validate()` checks an object against the Kubernetes schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`no model for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(structuredClone(manifest) as never).validate();
}

function readYamlDocs(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
}

const key = (m: { kind: string; metadata: { name: string } }) => `${m.kind}/${m.metadata.name}`;

/**
 * A small strategic merge: objects merge key by key, lists of named objects (containers, env,
 * ports, volumes) merge by name, other lists are replaced — what the overlays' patches rely on.
 */
function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (list: unknown[]) => list.every((item) => item && typeof item === 'object' && 'name' in (item as Obj));
    if (!named(base) || !named(patch)) return patch;
    const out = base.map((item) => structuredClone(item) as Obj);
    for (const item of patch as Obj[]) {
      const i = out.findIndex((b) => b.name === item.name);
      if (i >= 0) out[i] = merge(out[i], item) as Obj;
      else out.push(item);
    }
    return out;
  }
  if (base && patch && typeof base === 'object' && typeof patch === 'object' && !Array.isArray(base) && !Array.isArray(patch)) {
    const out: Obj = { ...(base as Obj) };
    for (const [k, v] of Object.entries(patch as Obj)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return patch;
}

interface Kustomization {
  resources?: string[];
  patches?: { path?: string; patch?: string }[];
  images?: { name: string; newName?: string; newTag?: string }[];
  replicas?: { name: string; count: number }[];
  namespace?: string;
  secretGenerator?: { name: string; literals?: string[] }[];
}

/** Builds a kustomization roughly as kustomize does: resources (recursively), generators, patches, images, replicas. */
function build(dir: string): Manifest[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  let out: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource);
    expect(existsSync(path), `${relative(ROOT, dir)}: resource ${resource} exists`).toBe(true);
    if (statSync(path).isDirectory()) {
      expect(existsSync(join(path, 'kustomization.yaml')), `${resource} has a kustomization.yaml`).toBe(true);
      out.push(...build(path));
    } else {
      out.push(...readYamlDocs(path));
    }
  }
  for (const generator of kustomization.secretGenerator ?? []) {
    const data = Object.fromEntries((generator.literals ?? []).map((l) => [l.slice(0, l.indexOf('=')), Buffer.from(l.slice(l.indexOf('=') + 1)).toString('base64')]));
    out.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: generator.name }, type: 'Opaque', data });
  }
  for (const entry of kustomization.patches ?? []) {
    expect(entry.path, 'patches are files').toBeDefined();
    const path = join(dir, entry.path ?? '');
    expect(existsSync(path), `${relative(ROOT, dir)}: patch ${entry.path} exists`).toBe(true);
    for (const patch of readYamlDocs(path)) {
      const i = out.findIndex((m) => key(m) === key(patch));
      expect(i, `${relative(ROOT, path)} patches ${key(patch)}, which exists`).toBeGreaterThanOrEqual(0);
      out[i] = merge(out[i], patch) as Manifest;
    }
  }
  for (const image of kustomization.images ?? []) {
    const matching = containersOf(out).filter((c) => imageName(String(c.image)) === image.name);
    expect(matching.length, `image ${image.name} is used`).toBeGreaterThan(0);
    for (const c of matching) c.image = `${image.newName ?? image.name}:${image.newTag ?? 'latest'}`;
  }
  for (const replicas of kustomization.replicas ?? []) {
    const target = out.find((m) => m.kind === 'Deployment' && m.metadata.name === replicas.name);
    expect(target, `replicas target ${replicas.name}`).toBeDefined();
    (target?.spec as Obj).replicas = replicas.count;
  }
  if (kustomization.namespace) out = out.map((m) => (m.kind === 'Namespace' ? m : { ...m, metadata: { ...m.metadata, namespace: kustomization.namespace } }));
  return out;
}

const imageName = (image: string) => image.replace(/:[^/:]+$/, '');

type Container = Obj & { name: string; image?: string; args?: string[]; ports?: { name?: string; containerPort: number }[] };
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: Obj[]; terminationGracePeriodSeconds?: number };

function podSpec(m: Manifest): PodSpec {
  return ((m.spec as Obj).template as Obj).spec as PodSpec;
}

function containersOf(manifests: Manifest[]): Container[] {
  return manifests.filter((m) => m.kind === 'Deployment').flatMap((m) => [...podSpec(m).containers, ...(podSpec(m).initContainers ?? [])]);
}

const OVERLAYS = readdirSync(join(K8S, 'overlays'));

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
  const get = (name: string) => instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('builds one non-root node:20 image with production dependencies only', () => {
    expect(get('FROM')).toEqual(['node:20-bookworm-slim']);
    expect(get('RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends git .*tini/);
    expect(get('RUN').join('\n')).toContain('npm ci --omit=dev');
    expect(get('USER')).toEqual(['node']);
    // tsx runs the TypeScript at runtime, so it must survive --omit=dev
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Obj; devDependencies: Obj };
    expect(pkg.dependencies.tsx).toBeDefined();
    expect(pkg.devDependencies.tsx).toBeUndefined();
  });

  it('copies what exists and starts a service that exists', () => {
    for (const copy of get('COPY')) {
      const parts = copy.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    }
    const cmd = JSON.parse(get('CMD')[0] ?? '[]') as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(SERVICE_ENTRIES).toContain(cmd[3]);
    expect(existsSync(join(ROOT, cmd[3] ?? ''))).toBe(true);
    expect(JSON.parse(get('ENTRYPOINT')[0] ?? '[]')).toEqual(['/usr/bin/tini', '--']);
    for (const entry of SERVICE_ENTRIES) expect(dockerfile).toContain(entry);
  });

  it('keeps local state and dependencies out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '.git', '.data']) expect(ignored).toContain(entry);
    for (const needed of ['package.json', 'package-lock.json', 'shared', 'services', 'cli']) expect(ignored).not.toContain(needed);
  });
});

describe('the sandbox image (deploy/sandbox/Dockerfile)', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/sandbox/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
  const get = (name: string) => instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

  it('has what the run script needs, and the Claude Code CLI the repository is tested with', () => {
    expect(get('FROM')).toEqual(['node:20-bookworm-slim']);
    expect(get('RUN').join('\n')).toMatch(/apt-get install -y --no-install-recommends bash ca-certificates coreutils .*git/);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(get('ARG')).toContain(`CLAUDE_CODE_VERSION=${pkg.devDependencies['@anthropic-ai/claude-code']}`);
    expect(get('RUN').join('\n')).toContain('"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"');
    expect(get('ENV')).toContain('IS_SANDBOX=1');
  });

  it('has setpriv and the agent user the run script switches to by default', () => {
    expect(get('RUN').join('\n')).toMatch(/apt-get install [^\n]*\butil-linux\b/);
    const [uid, gid] = (loadConfig({}).sandbox.agentUser ?? '').split(':');
    expect(get('RUN').join('\n')).toContain(`test "$(id -u node):$(id -g node)" = ${uid}:${gid}`);
  });

  it('puts the demo agent where the demo harness looks for it in containers', () => {
    const copies = get('COPY').map((c) => c.split(/\s+/));
    expect(copies).toContainEqual(['services/dispatcher/src/harnesses/demo-agent.mjs', IMAGE_DEMO_AGENT_PATH]);
    for (const [source] of copies) expect(existsSync(join(ROOT, source ?? '')), `COPY ${source}`).toBe(true);
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).not.toContain('services');
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Obj & { command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; depends_on?: Obj; healthcheck?: { test: string[] } }>;
    volumes: Record<string, unknown>;
  };
  const nodeServices = { ingress: ['services/ingress/src/main.ts', '8080', 'AGENTQ_PORT'], dispatcher: ['services/dispatcher/src/main.ts', '8081', 'AGENTQ_DISPATCHER_PORT'], relay: ['services/log-relay/src/main.ts', '8082', 'AGENTQ_RELAY_PORT'] } as const;

  it('runs redis with an append-only file on a volume', () => {
    const redis = compose.services.redis;
    expect(redis?.image).toMatch(/^redis:7/);
    expect(redis?.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(redis?.volumes).toContain('redis-data:/data');
    expect(redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['agentq-data', 'redis-data']);
  });

  it.each(Object.entries(nodeServices))('runs the %s from the image with its command, env, data volume and health check', (name, [entry, port, portVar]) => {
    const service = compose.services[name];
    expect(service?.image).toBe('agentq:local');
    expect(service?.build).toBe('.');
    expect(service?.command).toEqual(['node', '--import', 'tsx', entry]);
    expect(existsSync(join(ROOT, entry))).toBe(true);
    const env = service?.environment ?? {};
    expect(env.REDIS_URL).toBe('redis://redis:6379/0');
    expect(env.AGENTQ_HOST).toBe('0.0.0.0');
    expect(env.AGENTQ_DATA_DIR).toBe('/data');
    expect(env[portVar]).toBe(port);
    // tokens come from the environment of `docker compose`, never from the file
    expect(env.AGENTQ_API_TOKENS).toBe('${AGENTQ_API_TOKENS:-}');
    expect(env.AGENTQ_VIEWER_SECRET).toBe('${AGENTQ_VIEWER_SECRET:-}');
    expect(service?.volumes).toContain('agentq-data:/data');
    expect(service?.depends_on).toEqual({ redis: { condition: 'service_healthy' }, setup: { condition: 'service_completed_successfully' } });
    expect(service?.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/readyz`);
    const grace = Number(String(service?.stop_grace_period).replace(/s$/, '')) * 1000;
    expect(grace).toBeGreaterThan(Number(env.AGENTQ_SHUTDOWN_TIMEOUT_MS));
  });

  it('publishes only the ingress port and passes the Anthropic key only to the dispatcher', () => {
    expect(compose.services.ingress?.ports).toEqual(['${AGENTQ_PORT:-8080}:8080']);
    expect(compose.services.dispatcher?.ports).toBeUndefined();
    expect(compose.services.relay?.ports).toBeUndefined();
    expect(compose.services.dispatcher?.environment?.ANTHROPIC_API_KEY).toBe('${ANTHROPIC_API_KEY:-}');
    for (const name of ['ingress', 'relay', 'setup']) expect(compose.services[name]?.environment?.ANTHROPIC_API_KEY).toBeUndefined();
  });

  it('prepares the shared data dir once before the services start', () => {
    const setup = compose.services.setup;
    expect(setup?.command).toEqual(['node', '--import', 'tsx', 'cli/src/setup.ts']);
    expect(existsSync(join(ROOT, 'cli/src/setup.ts'))).toBe(true);
    expect(setup?.restart).toBe('no');
    expect(setup?.volumes).toContain('agentq-data:/data');
  });
});

describe('deploy/k8s', () => {
  it('has only manifests the models know and that validate, in every file', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.yaml')) files.push(path);
      }
    };
    walk(K8S);
    expect(files.length).toBeGreaterThan(15);
    for (const file of files) {
      const docs = readYamlDocs(file);
      if (file.endsWith('kustomization.yaml') || file.includes('prometheus-adapter') || file.endsWith('-patch.yaml')) continue;
      for (const doc of docs) expect(() => validate(doc), relative(ROOT, file)).not.toThrow();
    }
  });

  it('rejects a broken manifest (the validation is real)', () => {
    const [deployment] = readYamlDocs(join(K8S, 'base/ingress-deployment.yaml'));
    const broken = structuredClone(deployment) as Manifest;
    const container = podSpec(broken).containers[0] as Container;
    (container.ports as unknown as Obj[])[0] = { containerPort: 'eighty' };
    expect(() => validate(broken)).toThrow(/containerPort/);
  });

  it.each(['base', ...OVERLAYS.map((o) => `overlays/${o}`)])('%s builds into valid, consistent manifests', (dir) => {
    const manifests = build(join(K8S, dir));
    for (const m of manifests) expect(() => validate(m), key(m)).not.toThrow();
    const byKey = new Map(manifests.map((m) => [key(m), m]));
    expect(byKey.size, 'no duplicate names').toBe(manifests.length);

    const config = byKey.get('ConfigMap/agentq-config')?.data as Record<string, string>;
    const shutdownMs = Number(config.AGENTQ_SHUTDOWN_TIMEOUT_MS);
    expect(shutdownMs).toBeGreaterThan(0);
    expect(config.AGENTQ_HOST).toBe('0.0.0.0');

    const deployments = manifests.filter((m) => m.kind === 'Deployment' && m.metadata.name.startsWith('agentq-'));
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['agentq-dispatcher', 'agentq-ingress', 'agentq-relay']);
    for (const d of deployments) {
      const spec = podSpec(d);
      expect((spec.terminationGracePeriodSeconds ?? 30) * 1000, `${d.metadata.name}: grace period`).toBeGreaterThan(shutdownMs);
      const [container] = spec.containers;
      expect(spec.containers).toHaveLength(1);
      const c = container as Container & { livenessProbe: { httpGet: { path: string; port: string } }; readinessProbe: { httpGet: { path: string; port: string } }; resources: { requests: Obj; limits: Obj } };
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.ports?.map((p) => p.name)).toContain(c.readinessProbe.httpGet.port);
      expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources.limits).sort()).toEqual(['cpu', 'memory']);
      // the port the container declares is the one the service is configured to listen on
      const portVar = { 'agentq-ingress': 'AGENTQ_PORT', 'agentq-dispatcher': 'AGENTQ_DISPATCHER_PORT', 'agentq-relay': 'AGENTQ_RELAY_PORT' }[d.metadata.name] ?? '';
      expect(String(c.ports?.[0]?.containerPort)).toBe(config[portVar]);
      for (const cont of [...spec.containers, ...(spec.initContainers ?? [])]) {
        expect(cont.args?.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
        expect(existsSync(join(ROOT, cont.args?.[3] ?? '')), `${cont.args?.[3]} exists`).toBe(true);
        const env = (cont.env ?? []) as { valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
        for (const ref of env.map((e) => e.valueFrom?.secretKeyRef).filter((r) => r !== undefined)) {
          expect(ref.name).toBe('agentq-secrets');
          const secret = byKey.get('Secret/agentq-secrets');
          // overlays that generate the secret provide every required key
          if (secret && !ref.optional) expect(Object.keys(secret.data as Obj)).toContain(ref.key);
        }
        for (const from of (cont.envFrom ?? []) as { configMapRef?: { name: string } }[]) expect(byKey.has(`ConfigMap/${from.configMapRef?.name}`)).toBe(true);
      }
      for (const volume of spec.volumes ?? []) {
        const claim = (volume.persistentVolumeClaim as { claimName?: string } | undefined)?.claimName;
        if (claim) expect(byKey.has(`PersistentVolumeClaim/${claim}`), `PVC ${claim}`).toBe(true);
      }
    }
    expect(new Set(deployments.map((d) => podSpec(d).containers[0]?.args?.[3]))).toEqual(new Set(SERVICE_ENTRIES));

    // every Service selects a Deployment's pods and targets a port they declare
    for (const service of manifests.filter((m) => m.kind === 'Service')) {
      const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] };
      const target = manifests.find(
        (m) => m.kind === 'Deployment' && Object.entries(spec.selector).every(([k, v]) => ((m.spec as Obj).template as { metadata: { labels: Record<string, string> } }).metadata.labels[k] === v),
      );
      expect(target, `${key(service)} selects pods`).toBeDefined();
      const names = podSpec(target as Manifest).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
      for (const port of spec.ports) expect(names).toContain(port.targetPort);
    }

    // the dispatcher scales on the queue depth
    const hpa = byKey.get('HorizontalPodAutoscaler/agentq-dispatcher')?.spec as {
      scaleTargetRef: { kind: string; name: string };
      metrics: { type: string; external?: { metric: { name: string } }; pods?: { metric: { name: string } } }[];
      maxReplicas: number;
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'agentq-dispatcher' });
    expect(hpa.metrics.find((m) => m.type === 'External')?.external?.metric.name).toBe('agentq_queue_waiting');
  });

  it('serves every metric the autoscaler uses through the Prometheus adapter rules', () => {
    const values = parse(readFileSync(join(K8S, 'prometheus-adapter/values.yaml'), 'utf8')) as {
      rules: { external: { name: { as: string } }[]; custom: { name: { as: string } }[] };
    };
    const hpa = readYamlDocs(join(K8S, 'base/dispatcher-hpa.yaml'))[0]?.spec as {
      metrics: { type: string; external?: { metric: { name: string } }; pods?: { metric: { name: string } } }[];
    };
    const external = hpa.metrics.flatMap((m) => (m.external ? [m.external.metric.name] : []));
    const pods = hpa.metrics.flatMap((m) => (m.pods ? [m.pods.metric.name] : []));
    expect(values.rules.external.map((r) => r.name.as)).toEqual(external);
    expect(values.rules.custom.map((r) => r.name.as)).toEqual(pods);
  });

  it('overlays set a namespace and a concrete image', () => {
    for (const overlay of OVERLAYS) {
      const manifests = build(join(K8S, 'overlays', overlay));
      const namespace = manifests.find((m) => m.kind === 'Namespace')?.metadata.name;
      expect(namespace, overlay).toBeDefined();
      for (const m of manifests.filter((x) => x.kind !== 'Namespace')) expect((m.metadata as { namespace?: string }).namespace).toBe(namespace);
      for (const c of containersOf(manifests).filter((x) => imageName(String(x.image)).endsWith('agentq'))) expect(c.image).toMatch(/:[\w.-]+$/);
    }
  });
});
