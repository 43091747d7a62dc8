/**
 * iac/azure against what the code expects: `terraform fmt` (when terraform is installed; no
 * provider can be downloaded here, so no `init`/`validate`), then the HCL parsed with
 * @cdktf/hcl2json: a serverless NoSQL Cosmos DB account whose containers are exactly
 * COSMOS_CONTAINERS (partition keys, unique keys, indexing, TTL), a Flex Consumption function
 * app on Node 22 with a managed identity and the app settings the functions read, and the
 * narrow role assignments that identity needs.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Terraform expressions as hcl2json writes them
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { COSMOS_CONTAINERS } from '../../adapters/store/cosmos/index.js';
import { ROOT } from '../e2e/emulator.js';

const DIR = join(ROOT, 'iac/azure');

/** The terraform binary: /usr/local/bin/terraform (TOOLING.md) or one on PATH. */
function findTerraform(): string | undefined {
  const candidates = [
    '/usr/local/bin/terraform',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'terraform')),
  ];
  return candidates.find((c) => existsSync(c));
}
const terraform = findTerraform();

// biome-ignore lint/suspicious/noExplicitAny: hcl2json answers untyped JSON
type Block = Record<string, any>;
/** Every top-level block of every .tf file: kind -> type -> name -> body (or kind -> name -> body). */
let hcl: Block;

beforeAll(async () => {
  hcl = {};
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.tf'))) {
    const parsed = await parse(file, readFileSync(join(DIR, file), 'utf8'));
    for (const [kind, byType] of Object.entries(parsed)) {
      if (kind === 'locals' || kind === 'terraform' || kind === 'moved') {
        hcl[kind] = [...(hcl[kind] ?? []), ...(byType as Block[])];
        continue;
      }
      hcl[kind] ??= {};
      for (const [type, byName] of Object.entries(byType as Block)) {
        if (Array.isArray(byName)) {
          expect(hcl[kind][type], `${kind} ${type} is declared twice`).toBeUndefined();
          hcl[kind][type] = byName[0];
          continue;
        }
        hcl[kind][type] ??= {};
        for (const [name, bodies] of Object.entries(byName as Block)) {
          expect(hcl[kind][type][name], `${type}.${name} is declared twice`).toBeUndefined();
          hcl[kind][type][name] = (bodies as Block[])[0];
        }
      }
    }
  }
});

const resource = (type: string, name: string): Block => {
  const body = hcl.resource?.[type]?.[name];
  if (body === undefined) throw new Error(`iac/azure declares no ${type}.${name}`);
  return body;
};
const local = (name: string): string => {
  const found = (hcl.locals as Block[]).find((l) => name in l);
  if (!found) throw new Error(`no local.${name}`);
  return found[name];
};
const variableDefault = (name: string) => hcl.variable[name]?.default;

/** Evaluates the few expressions the TTL uses: a literal or `${var.x * n}`. */
function evaluateNumber(expression: unknown): number {
  if (typeof expression === 'number') return expression;
  const m = /^\$\{var\.(\w+) \* (\d+)\}$/.exec(String(expression));
  if (!m) throw new Error(`cannot evaluate ${String(expression)}`);
  return Number(variableDefault(m[1]!)) * Number(m[2]);
}

describe('terraform fmt', () => {
  it.skipIf(terraform === undefined)(
    terraform === undefined
      ? 'terraform fmt -check -recursive iac/azure — SKIPPED: no terraform binary (/usr/local/bin or PATH); the HCL checks below still run'
      : 'terraform fmt -check -recursive iac/azure',
    () => {
      // Throws, with the files terraform would rewrite, when any is not formatted.
      execFileSync(terraform!, ['fmt', '-check', '-recursive', '-diff', DIR], { stdio: 'pipe' });
    },
  );
});

describe('iac/azure', () => {
  it('pins azurerm 4.x and describes every variable and output', () => {
    const providers = (hcl.terraform as Block[]).flatMap((t) => t.required_providers ?? []);
    expect(providers[0].azurerm.source).toBe('hashicorp/azurerm');
    expect(providers[0].azurerm.version).toMatch(/^~> 4\./);
    for (const [name, body] of Object.entries(hcl.variable as Block))
      expect(body.description, `variable ${name}`).toMatch(/\w/);
    for (const [name, body] of Object.entries(hcl.output as Block))
      expect(body.description, `output ${name}`).toMatch(/\w/);
    expect(Object.keys(hcl.output)).toEqual(expect.arrayContaining(['webhook_base_url', 'api_url']));
  });

  it('has a serverless Cosmos DB NoSQL account and the portcullis database', () => {
    const account = resource('azurerm_cosmosdb_account', 'main');
    expect(account.kind).toBe('GlobalDocumentDB');
    expect(account.capabilities.map((c: Block) => c.name)).toContain('EnableServerless');
    expect(account.consistency_policy[0].consistency_level).toBe('Session');
    expect(account.local_authentication_disabled).toBe('${var.cosmos_local_auth_disabled}');
    expect(variableDefault('cosmos_local_auth_disabled')).toBe(true);
    const database = resource('azurerm_cosmosdb_sql_database', 'main');
    expect(database.account_name).toBe('${azurerm_cosmosdb_account.main.name}');
  });

  it('declares exactly the containers of COSMOS_CONTAINERS, each as the store defines it', () => {
    // One resource, one instance per entry of local.cosmos_containers, every setting from the entry.
    expect(Object.keys(hcl.resource.azurerm_cosmosdb_sql_container)).toEqual(['main']);
    const c = resource('azurerm_cosmosdb_sql_container', 'main');
    expect(c).toMatchObject({
      for_each: '${local.cosmos_containers}',
      name: '${each.key}',
      database_name: '${azurerm_cosmosdb_sql_database.main.name}',
      partition_key_paths: ['/pk'],
      partition_key_kind: 'Hash',
      partition_key_version: 2,
      default_ttl: '${each.value.default_ttl}',
    });
    expect(c.dynamic.unique_key[0]).toEqual({
      for_each: '${each.value.unique_keys}',
      content: [{ paths: '${unique_key.value}' }],
    });
    const policy = c.indexing_policy[0];
    expect(policy.indexing_mode).toBe('consistent');
    expect(policy.dynamic.included_path[0]).toEqual({
      for_each: '${each.value.included_paths}',
      content: [{ path: '${included_path.value}' }],
    });
    expect(policy.dynamic.excluded_path[0]).toEqual({
      for_each: '${each.value.excluded_paths}',
      content: [{ path: '${excluded_path.value}' }],
    });
    const composite = policy.dynamic.composite_index[0];
    expect(composite.for_each).toBe('${each.value.composite_indexes}');
    expect(composite.content[0].dynamic.index[0]).toEqual({
      for_each: '${composite_index.value}',
      content: [{ path: '${index.value.path}', order: '${index.value.order}' }],
    });

    const declared = local('cosmos_containers') as unknown as Record<string, Block>;
    expect(Object.keys(declared).sort()).toEqual(COSMOS_CONTAINERS.map((spec) => spec.name).sort());
    for (const spec of COSMOS_CONTAINERS) {
      const entry = declared[spec.name]!;
      const where = `container ${spec.name}`;
      expect(spec.partitionKeyPath, where).toBe('/pk');
      expect(spec.indexingPolicy.indexingMode, where).toBe('consistent');
      expect(entry.unique_keys, where).toEqual(spec.uniqueKeys);
      if (spec.defaultTtl === undefined) expect(entry.default_ttl, where).toBeNull();
      else expect(evaluateNumber(entry.default_ttl), where).toBe(spec.defaultTtl);
      const want = spec.indexingPolicy;
      expect(entry.included_paths, where).toEqual((want.includedPaths ?? []).map((p) => p.path));
      expect(entry.excluded_paths, where).toEqual((want.excludedPaths ?? []).map((p) => p.path));
      expect(
        entry.composite_indexes.map((ci: Block[]) =>
          ci.map((i) => `${i.path} ${String(i.order).toLowerCase()}`),
        ),
        where,
      ).toEqual((want.compositeIndexes ?? []).map((ci) => ci.map((i) => `${i.path} ${i.order}`)));
    }
  });

  it('moves each container of the one-resource-per-container layout to its instance, keeping its data', () => {
    const moved = (hcl.moved ?? []) as Block[];
    const names = COSMOS_CONTAINERS.map((spec) => spec.name);
    expect(moved.map((m) => m.to).sort()).toEqual(
      names.map((n) => `\${azurerm_cosmosdb_sql_container.main["${n}"]}`).sort(),
    );
    for (const m of moved) {
      const name = /main\["([^"]+)"\]/.exec(m.to)![1]!;
      expect(m.from).toBe(`\${azurerm_cosmosdb_sql_container.${name.replaceAll('-', '_')}}`);
    }
  });

  it('runs the functions on Flex Consumption, Node 22, with a system-assigned identity', () => {
    expect(resource('azurerm_service_plan', 'main')).toMatchObject({ os_type: 'Linux', sku_name: 'FC1' });
    const app = resource('azurerm_function_app_flex_consumption', 'main');
    expect(app.service_plan_id).toBe('${azurerm_service_plan.main.id}');
    expect(app).toMatchObject({ runtime_name: 'node', runtime_version: '22', https_only: true });
    expect(app.identity[0].type).toBe('SystemAssigned');
    expect(app.site_config[0].application_insights_connection_string).toBe(
      '${azurerm_application_insights.main.connection_string}',
    );
    expect(app.name).toBe('${local.function_app_name}');
  });

  it('gives the function app the settings the Azure functions read', () => {
    const settings = resource('azurerm_function_app_flex_consumption', 'main').app_settings;
    expect(settings).toMatchObject({
      PORTCULLIS_STORE: 'cosmos',
      COSMOS_ENDPOINT: '${azurerm_cosmosdb_account.main.endpoint}',
      PORTCULLIS_COSMOS_DATABASE: '${azurerm_cosmosdb_sql_database.main.name}',
      PORTCULLIS_WEBHOOK_BASE_URL: '${local.webhook_base_url}',
      PORTCULLIS_ADMIN_KEY: '${local.admin_key_reference}',
      PORTCULLIS_RETENTION_DAYS: '${tostring(var.retention_days)}',
    });
    // Managed identity only: no account key is handed to the app.
    expect(settings.COSMOS_KEY).toBeUndefined();
    // The webhook base is the app's own default hostname unless overridden.
    expect(local('webhook_base_url')).toBe(
      '${coalesce(var.webhook_base_url, "https://${local.function_app_name}.azurewebsites.net")}',
    );
    expect(variableDefault('webhook_base_url')).toBeNull();
    expect(local('admin_key_reference')).toBe(
      '@Microsoft.KeyVault(VaultName=${azurerm_key_vault.main.name};SecretName=${var.admin_key_secret_name})',
    );
    expect(Object.keys(hcl.check)).toContain('webhook_base_url_reaches_the_app');
  });

  it('grants the identity Cosmos DB data access on the database, read access to the secret and Reader on the registry subscriptions, nothing more', () => {
    const principal = '${azurerm_function_app_flex_consumption.main.identity[0].principal_id}';
    const cosmos = Object.values(hcl.resource.azurerm_cosmosdb_sql_role_assignment as Block);
    expect(cosmos).toHaveLength(1);
    expect(cosmos[0]).toMatchObject({
      principal_id: principal,
      // Cosmos DB Built-in Data Contributor.
      role_definition_id:
        '${azurerm_cosmosdb_account.main.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002',
      scope: '${azurerm_cosmosdb_account.main.id}/dbs/${azurerm_cosmosdb_sql_database.main.name}',
    });
    const vault = resource('azurerm_key_vault', 'main');
    expect(vault.rbac_authorization_enabled).toBe(true);
    const azureRoles = Object.values(hcl.resource.azurerm_role_assignment as Block);
    const appRoles = azureRoles.filter((r) => r.principal_id === principal);
    expect(appRoles).toEqual([
      expect.objectContaining({
        role_definition_name: 'Key Vault Secrets User',
        scope: '${azurerm_key_vault.main.id}',
      }),
      // Registry findings through Resource Graph (the acr connector): Reader on each listed subscription.
      expect.objectContaining({
        for_each: '${toset(var.registry_subscriptions)}',
        role_definition_name: 'Reader',
        scope: '/subscriptions/${each.value}',
      }),
    ]);
    expect(variableDefault('registry_subscriptions')).toEqual([]);
  });
});
