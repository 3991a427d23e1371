import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';

/** A model class of kubernetes-models: its prototype's `validate()` runs the compiled schema on `this`. */
type ModelClass = { prototype: { validate(): void } };

/** Every kind the manifests may hold, by `apiVersion/kind`: core from kubernetes-models, KEDA and Prometheus Operator from their CRD models. */
export const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject as unknown as ModelClass,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/**
 * The compiled schemas of kubernetes-models check the type of every field they know and ignore
 * every other one (`replica: 2` passes). Each compiled validator reads every property its schema
 * declares (and every entry of a map it validates), so the object is handed to it behind proxies
 * that record the reads: a key no validator read is a key no schema declares — the same as
 * `additionalProperties: false` everywhere.
 */
export function validateStrictly(manifest: Record<string, unknown>): void {
  const Model = MODELS[`${String(manifest.apiVersion)}/${String(manifest.kind)}`];
  if (!Model) throw new Error(`no model for ${String(manifest.apiVersion)} ${String(manifest.kind)}`);
  const read = new WeakMap<object, Set<PropertyKey>>();
  const watch = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let keys = read.get(value);
    if (!keys) read.set(value, (keys = new Set()));
    const seen = keys;
    return new Proxy(value, {
      get(target, key, receiver) {
        seen.add(key);
        return watch(Reflect.get(target, key, receiver));
      },
    });
  };
  Model.prototype.validate.call(watch(manifest));
  const unknown: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    const seen = read.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (seen?.has(key)) walk(child, `${path}/${key}`);
      else unknown.push(`${path}/${key}`);
    }
  };
  walk(manifest, '');
  if (unknown.length > 0) throw new Error(`unknown fields: ${unknown.join(', ')}`);
}
