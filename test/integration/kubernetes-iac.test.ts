/**
 * iac/kubernetes/validating-webhook-configuration.yaml is what `portcullis clusters register`
 * prints (core/webhook-config.ts) with placeholders: the two must not drift.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  GATED_RESOURCES,
  webhookConfiguration,
  webhookConfigurationYaml,
} from '../../core/webhook-config.js';
import { ROOT } from '../e2e/emulator.js';

const FILE = join(ROOT, 'iac/kubernetes/validating-webhook-configuration.yaml');
const PLACEHOLDERS = {
  cluster: { name: 'CLUSTER', failurePolicy: 'Fail', timeoutSeconds: 5 },
  url: 'https://WEBHOOK_HOST/admission/CLUSTER_TOKEN',
} as const;

describe('iac/kubernetes/validating-webhook-configuration.yaml', () => {
  const text = readFileSync(FILE, 'utf8');
  const document = parse(text);

  it('equals webhookConfiguration() for the placeholder host and token, with the default policy and timeout', () => {
    expect(document).toEqual(webhookConfiguration(PLACEHOLDERS));
  });

  it('equals what `clusters register` prints, once the placeholders are filled in', () => {
    const filled = parse(
      text
        .replaceAll('WEBHOOK_HOST', 'portcullis-webhook-abc-uc.a.run.app')
        .replaceAll('CLUSTER_TOKEN', 'pct_token'),
    );
    const printed = parse(
      webhookConfigurationYaml({
        cluster: { name: 'prod-gke', failurePolicy: 'Fail', timeoutSeconds: 5 },
        url: 'https://portcullis-webhook-abc-uc.a.run.app/admission/pct_token',
      }),
    );
    expect(filled).toEqual(printed);
  });

  it('gates exactly GATED_RESOURCES on CREATE and UPDATE, outside kube-system, dry runs without side effects', () => {
    const [webhook] = document.webhooks;
    expect(webhook.sideEffects).toBe('NoneOnDryRun');
    expect(webhook.matchPolicy).toBe('Equivalent');
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.timeoutSeconds).toBe(5);
    expect(webhook.rules.map((r: { resources: string[] }) => r.resources)).toEqual(
      GATED_RESOURCES.map((r) => [...r.resources]),
    );
    for (const rule of webhook.rules) expect(rule.operations).toEqual(['CREATE', 'UPDATE']);
    expect(webhook.namespaceSelector.matchExpressions).toEqual([
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
    ]);
  });

  it('has a README explaining every field it sets', () => {
    const readme = readFileSync(join(ROOT, 'iac/kubernetes/README.md'), 'utf8');
    for (const field of [
      'sideEffects',
      'failurePolicy',
      'timeoutSeconds',
      'matchPolicy',
      'clientConfig.url',
      'rules',
      'namespaceSelector',
      'admissionReviewVersions',
      'portcullis clusters register',
    ]) {
      expect(readme, field).toContain(field);
    }
  });
});
