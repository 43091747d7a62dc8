import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, rulesFromDocuments } from './documents.js';

const rules = (text: string) => rulesFromDocuments('rules.yaml', parseDocuments('rules.yaml', text));

describe('rulesFromDocuments', () => {
  it('reads one rule, a list, {rules: [...]} and several documents', () => {
    const text = [
      'name: a\naction: Audit',
      '- name: b\n  action: Deny\n- name: c\n  action: Audit',
      'rules:\n  - name: d\n    action: Audit',
      '',
    ].join('\n---\n');
    expect(rules(text).map((r) => [r.name, r.where])).toEqual([
      ['a', 'rules.yaml: document 1'],
      ['b', 'rules.yaml: document 2, item 1'],
      ['c', 'rules.yaml: document 2, item 2'],
      ['d', 'rules.yaml: document 3, rules item 1'],
    ]);
  });

  it('refuses a rule without a name, duplicates and non-rules, naming where', () => {
    expect(() => rules('- name: a\n- action: Deny')).toThrow('rules.yaml: item 2: the rule has no name');
    expect(() => rules('name: "  "')).toThrow('rules.yaml: the rule has no name');
    expect(() => rules('- name: a\n- name: A')).toThrow(
      'rules.yaml: item 2: rule "A" is also defined at rules.yaml: item 1',
    );
    expect(() => rules('rules: nope')).toThrow('"rules" must be a list');
    expect(() => rules('- just a string')).toThrow(
      'rules.yaml: item 1: expected a rule (a mapping), got a string',
    );
    expect(() => rules('')).toThrow('rules.yaml: no rules found');
  });

  it('names the line of a YAML syntax error', () => {
    expect(() => parseDocuments('r.yaml', 'name: a\nlabels: { x: [\n')).toThrow(
      /^r\.yaml: invalid YAML: .* at line \d+/,
    );
  });
});

describe('manifestObjects', () => {
  it('expands kind: List items and several documents, skipping empty documents', () => {
    const docs = parseDocuments(
      'm.yaml',
      [
        'kind: Deployment\nmetadata: { name: web, namespace: shop }',
        '',
        'kind: List\nitems:\n  - kind: Pod\n    metadata: { generateName: job- }\n  - kind: PodList\n    items: [{ kind: Pod, metadata: { name: p } }]',
      ].join('\n---\n'),
    );
    expect(manifestObjects('m.yaml', docs).map((o) => [o.kind, o.namespace, o.name])).toEqual([
      ['Deployment', 'shop', 'web'],
      ['Pod', undefined, 'job-*'],
      ['Pod', undefined, 'p'],
    ]);
  });

  it('refuses a document that is not a Kubernetes object', () => {
    expect(() => manifestObjects('m.yaml', [{ metadata: {} }])).toThrow(
      'm.yaml: document 1: not a Kubernetes object',
    );
  });
});
