/**
 * iac/gcp: formatted, and declaring what the Cloud Functions deployment needs — every index and
 * field override of firestore.indexes.json (the TTL policy on events.expiresAt among them), a
 * function per functions-framework target, a scheduler job with an OIDC token per job function,
 * one service account per function with the narrowest roles, and only the webhook and the api
 * publicly invokable. Providers cannot be downloaded here (no `terraform init`/`validate`), so
 * the HCL is parsed with @cdktf/hcl2json, and the pure locals are evaluated by `terraform console`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../functions/jobs.js';
import { ROOT } from '../e2e/emulator.js';

const DIR = join(ROOT, 'iac/gcp');

/** /usr/local/bin/terraform or one on PATH; undefined when there is none. */
function findTerraform(): string | undefined {
  const candidates = [
    '/usr/local/bin/terraform',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'terraform')),
  ];
  return candidates.find((c) => c !== '' && existsSync(c));
}
const TERRAFORM = findTerraform();
const NO_TERRAFORM = 'NOT RUN: terraform is not installed (looked in /usr/local/bin and PATH)';
const tfEnv = {
  ...process.env,
  TF_CLI_CONFIG_FILE: '/dev/null',
  TF_IN_AUTOMATION: '1',
  CHECKPOINT_DISABLE: '1',
};

// biome-ignore lint/suspicious/noExplicitAny: hcl2json answers arbitrary JSON
type Json = any;
type Block = Record<string, Json>;

/** Every .tf file of iac/gcp, merged: resources by type and name, locals, variables, outputs. */
interface Config {
  /** By type, then name. */
  resources: Json;
  locals: Json;
  variables: Record<string, Block>;
  outputs: Json;
  data: Json;
  terraform: Block[];
}

async function loadConfig(): Promise<Config> {
  const config: Config = { resources: {}, locals: {}, variables: {}, outputs: {}, data: {}, terraform: [] };
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.tf'))) {
    const json: Json = await parse(file, readFileSync(join(DIR, file), 'utf8'));
    for (const [type, byName] of Object.entries<Json>(json.resource ?? {})) {
      for (const [name, blocks] of Object.entries<Json>(byName)) {
        expect(config.resources[type]?.[name], `${type}.${name} declared twice`).toBeUndefined();
        config.resources[type] = { ...config.resources[type], [name]: blocks[0] };
      }
    }
    for (const [type, byName] of Object.entries<Json>(json.data ?? {})) {
      for (const [name, blocks] of Object.entries<Json>(byName)) {
        config.data[type] = { ...config.data[type], [name]: blocks[0] };
      }
    }
    for (const block of json.locals ?? []) Object.assign(config.locals, block);
    for (const [name, blocks] of Object.entries<Json>(json.variable ?? {}))
      config.variables[name] = blocks[0];
    for (const [name, blocks] of Object.entries<Json>(json.output ?? {})) config.outputs[name] = blocks[0];
    config.terraform.push(...(json.terraform ?? []));
  }
  return config;
}

/** Every resource whose attributes (at any depth) mention `text`. */
function resourcesMentioning(config: Config, text: string): string[] {
  return Object.entries<Json>(config.resources).flatMap(([type, byName]) =>
    Object.entries<Json>(byName)
      .filter(([, block]) => JSON.stringify(block).includes(text))
      .map(([name]) => `${type}.${name}`),
  );
}

const IAM_MEMBER_TYPES = [
  'google_project_iam_member',
  'google_cloud_run_v2_service_iam_member',
  'google_cloud_run_service_iam_member',
  'google_cloudfunctions2_function_iam_member',
  'google_secret_manager_secret_iam_member',
  'google_storage_bucket_iam_member',
  'google_service_account_iam_member',
];

/** Every IAM member binding: its address, role, member and the whole block. */
function iamBindings(config: Config) {
  return IAM_MEMBER_TYPES.flatMap((type) =>
    Object.entries<Json>(config.resources[type] ?? {}).map(([name, block]) => ({
      address: `${type}.${name}`,
      role: block.role as string,
      member: block.member as string,
      block,
    })),
  );
}

/** How hcl2json writes a Terraform expression: `ref('var.x')` is "${var.x}". */
const ref = (expression: string) => `\${${expression}}`;

const camel = (job: string) => job.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

// Read at collection time, so that each unscheduled job gets a test that names it.
const SCHEDULED_JOBS: Record<string, { entry_point: string; schedule: string }> = (
  await parse('locals.tf', readFileSync(join(DIR, 'locals.tf'), 'utf8'))
).locals[0].jobs;
const UNSCHEDULED_JOBS = JOB_NAMES.filter((job) => SCHEDULED_JOBS[job] === undefined);

let config: Config;
beforeAll(async () => {
  config = await loadConfig();
});

describe('iac/gcp formatting', () => {
  if (TERRAFORM === undefined) {
    it.skip(`terraform fmt -check -recursive iac/gcp: ${NO_TERRAFORM}`, () => {});
  } else {
    it('terraform fmt -check -recursive iac/gcp is clean', () => {
      const run = () =>
        execFileSync(TERRAFORM, ['fmt', '-check', '-recursive', '-diff', 'iac/gcp'], {
          cwd: ROOT,
          env: tfEnv,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      expect(run).not.toThrow();
    });
  }
});

describe('Firestore', () => {
  const schema = JSON.parse(readFileSync(join(DIR, 'firestore.indexes.json'), 'utf8'));

  it('creates a native-mode database', () => {
    expect(config.resources.google_firestore_database?.main).toMatchObject({ type: 'FIRESTORE_NATIVE' });
  });

  it('reads firestore.indexes.json and creates each index through for_each', () => {
    expect(config.locals.firestore_schema).toBe(
      `\${jsondecode(file("\${path.module}/firestore.indexes.json"))}`,
    );
    expect(config.locals.firestore_indexes).toMatch(
      /for index in distinct\(local\.firestore_schema\.indexes\)/,
    );
    const index = config.resources.google_firestore_index?.composite;
    expect(index).toMatchObject({
      for_each: ref('local.firestore_indexes'),
      database: ref('google_firestore_database.main.name'),
      collection: ref('each.value.collectionGroup'),
      query_scope: ref('each.value.queryScope'),
    });
    const fields = index.dynamic.fields[0];
    expect(fields.for_each).toBe(ref('each.value.fields'));
    expect(fields.content[0]).toEqual({
      field_path: ref('fields.value.fieldPath'),
      order: ref('try(fields.value.order, null)'),
      array_config: ref('try(fields.value.arrayConfig, null)'),
    });
  });

  it('creates each field override through for_each, with a TTL policy where the file says ttl', () => {
    expect(config.locals.firestore_fields).toMatch(/for field in local\.firestore_schema\.fieldOverrides/);
    const field = config.resources.google_firestore_field?.override;
    expect(field).toMatchObject({
      for_each: ref('local.firestore_fields'),
      collection: ref('each.value.collectionGroup'),
      field: ref('each.value.fieldPath'),
    });
    expect(field.index_config[0].dynamic.indexes[0].for_each).toBe(ref('try(each.value.indexes, [])'));
    expect(field.dynamic.ttl_config[0].for_each).toBe(ref('try(each.value.ttl, false) ? [true] : []'));
    // The policy the store relies on (docs/storage/firestore.md).
    expect(schema.fieldOverrides).toContainEqual(
      expect.objectContaining({ collectionGroup: 'events', fieldPath: 'expiresAt', ttl: true }),
    );
  });

  if (TERRAFORM === undefined) {
    it.skip(`terraform console evaluates the index and field maps: ${NO_TERRAFORM}`, () => {});
  } else {
    it('terraform console: every index of the file is a resource instance, and events.expiresAt has TTL', () => {
      // locals.tf refers to no resource, so it evaluates alone, with no providers.
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-tf-'));
      try {
        copyFileSync(join(DIR, 'locals.tf'), join(dir, 'locals.tf'));
        copyFileSync(join(DIR, 'firestore.indexes.json'), join(dir, 'firestore.indexes.json'));
        const out = execFileSync(TERRAFORM, ['console'], {
          cwd: dir,
          env: tfEnv,
          encoding: 'utf8',
          input: 'jsonencode({ indexes = local.firestore_indexes, fields = local.firestore_fields })\n',
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const evaluated = JSON.parse(JSON.parse(out.trim()));
        const instances = Object.values(evaluated.indexes);
        for (const declared of schema.indexes) expect(instances).toContainEqual(declared);
        const distinct = new Set(schema.indexes.map((i: unknown) => JSON.stringify(i)));
        expect(instances).toHaveLength(distinct.size);
        expect(Object.keys(evaluated.fields)).toHaveLength(schema.fieldOverrides.length);
        expect(evaluated.fields['events.expiresAt']).toMatchObject({ ttl: true, indexes: [] });
        const ttl = Object.entries(evaluated.fields as Record<string, { ttl?: boolean }>).filter(
          ([, f]) => f.ttl,
        );
        expect(ttl.map(([k]) => k)).toEqual(['events.expiresAt']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('functions', () => {
  const fn = (name: string) => config.resources.google_cloudfunctions2_function?.[name];

  it('deploys webhook, api and one function per job, on Node.js 22, from the uploaded bundle', () => {
    expect(Object.keys(config.resources.google_cloudfunctions2_function).sort()).toEqual([
      'api',
      'job',
      'webhook',
    ]);
    expect(fn('webhook').build_config[0].entry_point).toBe('webhook');
    expect(fn('api').build_config[0].entry_point).toBe('api');
    expect(fn('job').for_each).toBe(ref('local.jobs'));
    expect(fn('job').build_config[0].entry_point).toBe(ref('each.value.entry_point'));
    for (const name of ['webhook', 'api', 'job']) {
      expect(fn(name).build_config[0].runtime, name).toBe('nodejs22');
      expect(fn(name).build_config[0].source[0].storage_source[0]).toEqual({
        bucket: ref('google_storage_bucket.source.name'),
        object: ref('google_storage_bucket_object.source.name'),
      });
    }
    const pkg = JSON.parse(readFileSync(join(DIR, 'function-source/package.json'), 'utf8'));
    expect(pkg).toMatchObject({ type: 'module', main: 'index.js' });
  });

  it('schedules every job, each entry of the jobs map naming a job of functions/jobs.ts and its target', () => {
    for (const [job, entry] of Object.entries(SCHEDULED_JOBS)) {
      expect(
        JOB_NAMES as readonly string[],
        `iac/gcp/locals.tf schedules "${job}", which functions/jobs.ts does not have`,
      ).toContain(job);
      expect(entry.entry_point, job).toBe(camel(job));
    }
    expect(SCHEDULED_JOBS['expire-exemptions']?.schedule).toMatch(/^\d+ \* \* \* \*$/);
    expect(SCHEDULED_JOBS['monitoring-upkeep']?.schedule).toMatch(/^\d+ \* \* \* \*$/);
    // DESIGN.md §5: findings sync every 15 minutes by default.
    expect(SCHEDULED_JOBS['findings-sync']?.schedule).toBe('*/15 * * * *');
  });

  // A job added to functions/jobs.ts is registered by functions/gcp/index.ts at once, but runs on
  // Google Cloud only once iac/gcp/locals.tf has its entry: say so, by name, until it does.
  for (const job of UNSCHEDULED_JOBS) {
    it.skip(`NOT SCHEDULED on Google Cloud: "${job}" has no entry in iac/gcp/locals.tf jobs (add "${job}" = { entry_point = "${camel(job)}", schedule = "…", description = "…" })`, () => {});
  }

  it('tells the api function where the webhook is and gives it the admin key secret', () => {
    const service = fn('api').service_config[0];
    expect(service.environment_variables).toContain(
      'PORTCULLIS_WEBHOOK_BASE_URL = google_cloudfunctions2_function.webhook.service_config[0].uri',
    );
    expect(service.secret_environment_variables[0]).toMatchObject({
      key: 'PORTCULLIS_ADMIN_KEY',
      secret: ref('google_secret_manager_secret.admin_key.secret_id'),
      // Pinned, so that a new key redeploys the function and its instances install it.
      version: ref('google_secret_manager_secret_version.admin_key.version'),
    });
    expect(config.resources.google_secret_manager_secret?.admin_key).toBeDefined();
  });
});

describe('identities and access', () => {
  const serviceAccount = (name: string) =>
    config.resources.google_cloudfunctions2_function[name].service_config[0].service_account_email;

  it('runs each function as its own service account', () => {
    expect(serviceAccount('webhook')).toBe(ref('google_service_account.webhook.email'));
    expect(serviceAccount('api')).toBe(ref('google_service_account.api.email'));
    expect(serviceAccount('job')).toBe(ref('google_service_account.job[each.key].email'));
    expect(config.resources.google_service_account.job.for_each).toBe(ref('local.jobs'));
  });

  it('grants roles/datastore.user, on the Portcullis database only, to the function accounts and nobody else', () => {
    const store = iamBindings(config).filter((b) => b.role === 'roles/datastore.user');
    expect(store.map((b) => b.address)).toEqual(['google_project_iam_member.datastore_user']);
    expect(store[0]!.block.for_each).toBe(ref('local.store_users'));
    expect(store[0]!.block.condition[0].expression).toBe(
      `resource.name == "\${google_firestore_database.main.id}"`,
    );
    const users: string = config.locals.store_users;
    for (const account of [
      'google_service_account.webhook',
      'google_service_account.api',
      'google_service_account.job',
    ]) {
      expect(users).toContain(account);
    }
    expect(users).not.toContain('google_service_account.scheduler');
  });

  it('lets the api and the findings-sync job, and no other function, read registry findings in each registry project', () => {
    const read = iamBindings(config).filter((b) =>
      ['roles/containeranalysis.occurrences.viewer', 'roles/artifactregistry.reader'].includes(b.role),
    );
    expect(read).toEqual([]);
    const grant = config.resources.google_project_iam_member.registry_reader;
    expect(grant).toMatchObject({
      for_each: ref('local.registry_grants'),
      project: ref('each.value.project'),
      role: ref('each.value.role'),
      member: `serviceAccount:\${local.registry_readers[each.value.reader]}`,
    });
    expect(grant.condition).toBeUndefined();
    expect(config.locals.registry_read_roles).toEqual([
      'roles/containeranalysis.occurrences.viewer',
      'roles/artifactregistry.reader',
    ]);
    expect(config.locals.registry_readers).toEqual({
      api: ref('google_service_account.api.email'),
      'findings-sync': ref('google_service_account.job["findings-sync"].email'),
    });
    expect(config.locals.registry_projects).toBe(
      ref('length(var.registry_projects) > 0 ? var.registry_projects : [var.project_id]'),
    );
    expect(config.locals.registry_grants).toContain(
      'setproduct(keys(local.registry_readers), local.registry_projects, local.registry_read_roles)',
    );
    // The connector calls the Container Analysis API, so it is enabled.
    expect(config.resources.google_project_service.apis.for_each).toContain(
      'containeranalysis.googleapis.com',
    );
  });

  it('lets only the api read the admin key secret', () => {
    const secret = iamBindings(config).filter((b) => b.role === 'roles/secretmanager.secretAccessor');
    expect(secret.map((b) => b.member)).toEqual([`serviceAccount:\${google_service_account.api.email}`]);
  });

  it('gives the scheduler account roles/run.invoker on the job functions, and nothing else', () => {
    const scheduler = iamBindings(config).filter((b) =>
      JSON.stringify(b.block).includes('google_service_account.scheduler'),
    );
    expect(scheduler.map((b) => [b.address, b.role])).toEqual([
      ['google_cloud_run_v2_service_iam_member.scheduler_invokes_job', 'roles/run.invoker'],
    ]);
    expect(scheduler[0]!.block.for_each).toBe(ref('google_cloudfunctions2_function.job'));
    expect(scheduler[0]!.block.name).toBe(ref('each.value.service_config[0].service'));
  });

  it('makes the webhook and the api publicly invokable, and the job functions not', () => {
    const publicBindings = iamBindings(config).filter((b) => /^all(Authenticated)?Users$/.test(b.member));
    expect(publicBindings.map((b) => [b.role, b.block.name]).sort()).toEqual([
      ['roles/run.invoker', ref('google_cloudfunctions2_function.api.service_config[0].service')],
      ['roles/run.invoker', ref('google_cloudfunctions2_function.webhook.service_config[0].service')],
    ]);
    for (const binding of publicBindings) {
      expect(binding.block.for_each, binding.address).toBeUndefined();
      expect(JSON.stringify(binding.block)).not.toContain('google_cloudfunctions2_function.job');
    }
    // Nothing else grants the job functions to anyone.
    const jobGrants = iamBindings(config).filter((b) =>
      JSON.stringify(b.block).includes('google_cloudfunctions2_function.job'),
    );
    expect(jobGrants.map((b) => b.member)).toEqual([
      `serviceAccount:\${google_service_account.scheduler.email}`,
    ]);
  });
});

describe('Cloud Scheduler', () => {
  it('calls each job function with POST and an OIDC token for the scheduler account, audience its URL', () => {
    const jobs = config.resources.google_cloud_scheduler_job;
    expect(Object.keys(jobs)).toEqual(['job']);
    const job = jobs.job;
    expect(job.for_each).toBe(ref('local.jobs'));
    expect(job.schedule).toBe(ref('lookup(var.job_schedules, each.key, each.value.schedule)'));
    const target = job.http_target[0];
    const uri = ref('google_cloudfunctions2_function.job[each.key].service_config[0].uri');
    expect(target).toMatchObject({ http_method: 'POST', uri });
    expect(target.oidc_token[0]).toEqual({
      service_account_email: ref('google_service_account.scheduler.email'),
      audience: uri,
    });
  });
});

describe('variables and outputs', () => {
  it('pins the google provider to 6.x', () => {
    const providers = config.terraform.flatMap((t) => t.required_providers ?? []);
    expect(providers[0].google).toEqual({ source: 'hashicorp/google', version: '~> 6.0' });
  });

  it('describes every variable and output', () => {
    for (const [name, v] of Object.entries(config.variables)) expect(v.description, name).toMatch(/\S{3}/);
    for (const [name, o] of Object.entries<Json>(config.outputs))
      expect(o.description, name).toMatch(/\S{3}/);
    expect(Object.keys(config.outputs)).toEqual(
      expect.arrayContaining(['webhook_url', 'api_url', 'admin_key_secret']),
    );
    expect(config.outputs.admin_key.sensitive).toBe(true);
  });

  it('refuses to deploy an archive without the bundle', () => {
    const precondition = config.resources.google_storage_bucket_object.source.lifecycle[0].precondition[0];
    expect(precondition.condition).toContain(`fileexists("\${local.source_dir}/index.js")`);
    expect(resourcesMentioning(config, 'data.archive_file.source')).toContain(
      'google_storage_bucket_object.source',
    );
  });
});
