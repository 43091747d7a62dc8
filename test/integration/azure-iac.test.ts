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
      if (kind === 'locals' || kind === 'terraform') {
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
    const declared = Object.values(hcl.resource.azurerm_cosmosdb_sql_container as Block);
    expect(declared.map((c) => c.name).sort()).toEqual(COSMOS_CONTAINERS.map((c) => c.name).sort());
    for (const spec of COSMOS_CONTAINERS) {
      const c = declared.find((d) => d.name === spec.name)!;
      const where = `container ${spec.name}`;
      expect(c.database_name, where).toBe('${azurerm_cosmosdb_sql_database.main.name}');
      expect(c.partition_key_paths, where).toEqual([spec.partitionKeyPath]);
      expect(c.partition_key_kind, where).toBe('Hash');
      expect(c.partition_key_version, where).toBe(2);
      expect(
        (c.unique_key ?? []).map((u: Block) => u.paths),
        where,
      ).toEqual(spec.uniqueKeys);
      if (spec.defaultTtl === undefined) expect(c.default_ttl, where).toBeUndefined();
      else expect(evaluateNumber(c.default_ttl), where).toBe(spec.defaultTtl);

      const policy = c.indexing_policy[0];
      const want = spec.indexingPolicy;
      expect(policy.indexing_mode, where).toBe(want.indexingMode);
      expect(
        (policy.included_path ?? []).map((p: Block) => p.path),
        where,
      ).toEqual((want.includedPaths ?? []).map((p) => p.path));
      expect(
        (policy.excluded_path ?? []).map((p: Block) => p.path),
        where,
      ).toEqual((want.excludedPaths ?? []).map((p) => p.path));
      expect(
        (policy.composite_index ?? []).map((ci: Block) =>
          ci.index.map((i: Block) => `${i.path} ${String(i.order).toLowerCase()}`),
        ),
        where,
      ).toEqual((want.compositeIndexes ?? []).map((ci) => ci.map((i) => `${i.path} ${i.order}`)));
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

  it('grants the identity Cosmos DB data access on the database and read access to the secret, nothing more', () => {
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
    ]);
  });
});
