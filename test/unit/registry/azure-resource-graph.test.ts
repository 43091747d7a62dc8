import { describe, expect, it } from 'vitest';
import { azureResourceGraphToScans } from '../../../adapters/registry/azure-resource-graph.js';
import { detailPaths, expectValidScans, loadCloudFixture, NOW, validationError } from './helpers.js';

const azureRows = loadCloudFixture('azure/official-example-subassessment-rows-azure.json') as unknown[];
const gcpRows = loadCloudFixture('azure/official-example-subassessment-rows-gcp-registry.json') as unknown[];

describe('azureResourceGraphToScans', () => {
  it('converts the documented Azure row; an exempt (NotApplicable) finding is kept but does not count', () => {
    const scans = azureResourceGraphToScans(azureRows, { now: NOW });
    expectValidScans(scans);
    expect(scans).toEqual([
      {
        registry: 'ptebic.azurecr.io',
        repository: 'public/azureml/aifx/stable-ubuntu2004-cu117-py39-torch200',
        digest: 'sha256:4af8e6f002401a965bbe753a381af308b40d8947fad2b9e1f6a369aa81abee59',
        tags: ['biweekly.202309.1'],
        source: 'acr',
        scannedAt: '2023-09-12T13:36:15.077Z',
        status: 'Scanned',
        vulnerabilities: [
          {
            id: 'CVE-2022-42969',
            severity: 'High',
            cvss: 7.5,
            package: 'py',
            version: '1.11.0.0',
            // FixAvailable with an empty fixedVersion: a fix exists, its version is not named.
            fixAvailable: true,
            state: 'Suppressed',
          },
        ],
        counts: { Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 },
      },
    ]);
  });

  it('reads Healthy rows as resolved findings: an image whose rows are all Healthy is Scanned and clean', () => {
    const page = loadCloudFixture('azure/constructed-resource-graph-response-page.json') as {
      data: { properties: { status: Record<string, unknown> } }[];
    };
    const rows = page.data.slice(0, 2).map((r) => {
      const row = structuredClone(r);
      row.properties.status = { ...row.properties.status, code: 'Healthy' };
      return row;
    });
    const [scan] = azureResourceGraphToScans(rows, { now: NOW });
    expect(scan).toMatchObject({ repository: 'payments/api', status: 'Scanned' });
    expect(scan!.vulnerabilities.map((v) => [v.id, v.state])).toEqual([
      ['CVE-2023-38545', 'Closed'],
      ['CVE-2022-48174', 'Closed'],
    ]);
    expect(scan!.counts).toEqual({ Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 });
  });

  it('converts a GCP registry image that Defender reports, with its Artifact Registry host', () => {
    const [scan] = azureResourceGraphToScans(gcpRows, { now: NOW });
    expectValidScans([scan!]);
    expect(scan).toMatchObject({
      registry: 'us-central1-docker.pkg.dev',
      repository: 'detection-stg-manual-tests-2/hital/nginx',
      digest: 'sha256:09e210fe1e7f54647344d278a8d0dee8a4f59f275b72280e8b5a7c18c560057f',
      tags: ['1.12'],
      status: 'Scanned',
    });
    expect(scan!.vulnerabilities).toEqual([
      {
        id: 'CVE-2017-11613',
        severity: 'Low',
        cvss: 3.3,
        package: 'tiff',
        version: '4.0.8-2+deb9u2',
        fixedVersion: '4.0.8-2+deb9u4',
        fixAvailable: true,
      },
    ]);
    expect(scan!.counts.Low).toBe(1);
  });

  it('takes the rows array, the Resource Graph response and az graph query output alike', () => {
    const rows = [...azureRows, ...gcpRows];
    const bare = azureResourceGraphToScans(rows, { now: NOW });
    expect(bare).toHaveLength(2);
    expect(
      azureResourceGraphToScans({ totalRecords: 2, count: 2, data: rows, $skipToken: 'x' }, { now: NOW }),
    ).toEqual(bare);
    expect(
      azureResourceGraphToScans({ count: 2, data: rows, skip_token: null, total_records: 2 }, { now: NOW }),
    ).toEqual(bare);
    expect(azureResourceGraphToScans({ value: rows, nextLink: null }, { now: NOW })).toEqual(bare);
  });

  it('reads the legacy table result format', () => {
    const table = {
      data: {
        columns: [
          { name: 'id', type: 'string' },
          { name: 'type', type: 'string' },
          { name: 'properties', type: 'object' },
          { name: 'timeGenerated', type: 'string' },
        ],
        rows: (gcpRows as Record<string, unknown>[]).map((r) => [
          r.id,
          r.type,
          r.properties,
          r.timeGenerated,
        ]),
      },
    };
    expect(azureResourceGraphToScans(table, { now: NOW })).toEqual(
      azureResourceGraphToScans(gcpRows, { now: NOW }),
    );
  });

  it('groups rows by digest, keeps only container images and reads mixed-case severities', () => {
    const scans = azureResourceGraphToScans(
      loadCloudFixture('azure/constructed-resource-graph-response-page.json'),
      {
        now: NOW,
      },
    );
    expectValidScans(scans);
    expect(scans.map((s) => [s.repository, s.digest.slice(7, 11), s.tags, s.scannedAt])).toEqual([
      ['payments/api', 'cccc', ['1.4.2', 'stable'], '2024-06-02T10:15:30.123Z'],
      ['reports/worker', 'dddd', [], '2024-06-01T22:00:00.000Z'],
    ]);
    expect(scans[0]!.vulnerabilities.map((v) => [v.id, v.severity, v.fixAvailable, v.fixedVersion])).toEqual([
      ['CVE-2023-38545', 'Critical', true, '7.74.0-1.3+deb11u10'],
      ['CVE-2022-48174', 'Medium', false, undefined],
    ]);
    expect(scans[0]!.counts).toEqual({ Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 0 });
  });

  it('says which field an image row lacks', () => {
    const row = structuredClone(gcpRows[0]) as {
      properties: { additionalData: { artifactDetails: { registryHost?: string } } };
    };
    delete row.properties.additionalData.artifactDetails.registryHost;
    const e = validationError(() => azureResourceGraphToScans([row], { now: NOW }));
    expect(detailPaths(e)).toEqual(['properties.additionalData.artifactDetails.registryHost']);
  });

  it.each([null, 7, 'rows', {}, { data: 'x' }, [7]])('rejects %j', (body) => {
    validationError(() => azureResourceGraphToScans(body, { now: NOW }));
  });

  it('rejects an unknown severity on a container-image row rather than guess', () => {
    const row = structuredClone(gcpRows[0]) as { properties: { status: { severity: string } } };
    row.properties.status.severity = 'Severe';
    const e = validationError(() => azureResourceGraphToScans([row], { now: NOW }));
    expect(e.message).toContain('Severe');
  });
});
