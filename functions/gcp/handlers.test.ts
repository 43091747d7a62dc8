/**
 * The Cloud Functions glue on its own: request/response conversion through functions-framework's
 * real Express server, JSON answers for bodies the framework rejects, start failures, the api's
 * settings and the structured log lines. The whole runtime over Firestore is
 * test/integration/gcp-functions.test.ts.
 */
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Hono } from 'hono';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../core/ports.js';
import { JOB_NAMES } from '../jobs.js';
import { parseApiConfig } from './api-app.js';
import {
  createHttpHandler,
  frameworkExpressApplication,
  installJsonBodyErrors,
  jobFunctionName,
} from './handlers.js';
import { cloudLogger } from './logger.js';

const silent: Logger = { info() {}, warn() {}, error() {} };

const express = frameworkExpressApplication();
if (express === undefined) throw new Error("functions-framework's Express was not found");
installJsonBodyErrors(express, silent);

/** Echoes what the shared app would see of the request. */
const echo = new Hono();
echo.get('/cookies', (c) => {
  c.header('set-cookie', 'a=1', { append: true });
  c.header('set-cookie', 'b=2', { append: true });
  return c.body(null, 204);
});
echo.all('*', async (c) => {
  const body = await c.req.text();
  return c.json(
    {
      method: c.req.method,
      url: c.req.url,
      body,
      contentType: c.req.header('content-type') ?? null,
      contentLength: c.req.header('content-length') ?? null,
      custom: c.req.header('x-custom') ?? null,
    },
    201,
    { 'x-answer': 'yes' },
  );
});
functions.http(
  'echo',
  createHttpHandler(async () => echo, silent),
);

describe('the HTTP handler', () => {
  const server = getTestServer('echo');

  it('hands the shared app the exact body bytes the client sent, whatever the framework parsed', async () => {
    // Key order, spacing and a duplicate key survive: the app reads rawBody, not the parsed body.
    const raw = '{ "b": 1,  "a": [2, 3], "a": 4 }';
    const res = await request(server)
      .post('/admission/tok?x=1&y=%2F')
      .set('content-type', 'application/json')
      .set('x-custom', 'kept')
      .send(raw);
    expect(res.status).toBe(201);
    expect(res.headers['x-answer']).toBe('yes');
    expect(res.body).toMatchObject({
      method: 'POST',
      body: raw,
      contentType: 'application/json',
      contentLength: null,
      custom: 'kept',
    });
    expect(new URL(res.body.url).pathname + new URL(res.body.url).search).toBe('/admission/tok?x=1&y=%2F');
  });

  it('passes text, binary and empty bodies, and GET without one', async () => {
    const text = await request(server).put('/t').set('content-type', 'text/plain').send('plain words');
    expect(text.body.body).toBe('plain words');
    const yaml = await request(server).post('/t').set('content-type', 'application/yaml').send('a: 1\n');
    expect(yaml.body.body).toBe('a: 1\n');
    const none = await request(server).post('/t');
    expect(none.body.body).toBe('');
    const get = await request(server).get('/t?q=1');
    expect(get.body).toMatchObject({ method: 'GET', body: '' });
  });

  it("uses the forwarded protocol and host, as behind Google's front end", async () => {
    const res = await request(server)
      .get('/x')
      .set('x-forwarded-proto', 'https')
      .set('host', 'webhook-abc-uc.a.run.app');
    expect(res.body.url).toBe('https://webhook-abc-uc.a.run.app/x');
  });

  it("answers a body that is not JSON with the shared JSON error, not Express's HTML page", async () => {
    const res = await request(server)
      .post('/admission/tok')
      .set('content-type', 'application/json')
      .send('{"apiVersion":');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe('invalid_argument');
    expect(res.body.error.message).toMatch(/^request body is not valid JSON/);
    expect(res.text).not.toContain('at JSON.parse');
  });

  it('answers an unsupported charset with a 415 JSON error', async () => {
    const res = await request(server)
      .post('/t')
      .set('content-type', 'application/json; charset=klingon')
      .send('{}');
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('keeps each Set-Cookie header apart', async () => {
    const res = await request(server).get('/cookies');
    expect(res.status).toBe(204);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('answers 503 JSON when the app cannot start, and tries again on the next request', async () => {
    let attempts = 0;
    const errors: string[] = [];
    functions.http(
      'flaky',
      createHttpHandler(
        async () => {
          attempts += 1;
          if (attempts === 1) throw new Error('store unreachable');
          return echo;
        },
        { ...silent, error: (message) => errors.push(message) },
      ),
    );
    const flaky = getTestServer('flaky');
    const first = await request(flaky).get('/healthz');
    expect(first.status).toBe(503);
    expect(first.body.error.code).toBe('unavailable');
    expect(errors).toEqual(['function failed to start']);
    const second = await request(flaky).get('/healthz');
    expect(second.status).toBe(201);
    expect(attempts).toBe(2);
  });
});

describe('job function names', () => {
  it('are the camelCase of the job names', () => {
    expect(jobFunctionName('expire-exemptions')).toBe('expireExemptions');
    expect(jobFunctionName('monitoring-upkeep')).toBe('monitoringUpkeep');
    for (const job of JOB_NAMES) expect(jobFunctionName(job)).toMatch(/^[a-z][A-Za-z0-9]*$/);
  });
});

describe('the api function settings', () => {
  it('reads the webhook base URL and the bootstrap key', () => {
    expect(
      parseApiConfig({
        PORTCULLIS_WEBHOOK_BASE_URL: ' https://portcullis-webhook-abc-uc.a.run.app/ ',
        PORTCULLIS_ADMIN_KEY: `pck_${'k'.repeat(40)}`,
      }),
    ).toEqual({
      webhookBaseUrl: 'https://portcullis-webhook-abc-uc.a.run.app',
      adminKey: `pck_${'k'.repeat(40)}`,
    });
    expect(
      parseApiConfig({ PORTCULLIS_WEBHOOK_BASE_URL: 'http://127.0.0.1:8080', PORTCULLIS_ADMIN_KEY: '' }),
    ).toEqual({
      webhookBaseUrl: 'http://127.0.0.1:8080',
      adminKey: undefined,
    });
  });

  it.each([
    [{}, /PORTCULLIS_WEBHOOK_BASE_URL: is required/],
    [{ PORTCULLIS_WEBHOOK_BASE_URL: 'not a url' }, /PORTCULLIS_WEBHOOK_BASE_URL: must be an http\(s\) URL/],
    [
      { PORTCULLIS_WEBHOOK_BASE_URL: 'http://webhook.example.com' },
      /PORTCULLIS_WEBHOOK_BASE_URL: must be https/,
    ],
    [{ PORTCULLIS_WEBHOOK_BASE_URL: 'https://w.example.com/?a=1' }, /must not have a query/],
    [
      { PORTCULLIS_WEBHOOK_BASE_URL: 'https://w.example.com', PORTCULLIS_ADMIN_KEY: 'short' },
      /PORTCULLIS_ADMIN_KEY: must be 16/,
    ],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => parseApiConfig(env)).toThrow(message);
  });
});

describe('the Cloud Logging logger', () => {
  it('writes one JSON object per line with severity, message and fields', () => {
    const lines: string[] = [];
    const logger = cloudLogger((line) => lines.push(line));
    logger.info('job finished', { job: 'expire-exemptions', expired: 2 });
    logger.warn('slow', { severity: 'DEBUG', message: 'not this one' });
    const error = new Error('boom');
    logger.error('unhandled error', { error: error.stack, cause: new Error('inner'), big: 10n });
    const entries = lines.map((l) => JSON.parse(l));
    expect(entries[0]).toMatchObject({
      severity: 'INFO',
      message: 'job finished',
      job: 'expire-exemptions',
      expired: 2,
    });
    expect(Date.parse(entries[0].time)).not.toBeNaN();
    expect(entries[1]).toMatchObject({ severity: 'WARNING', message: 'slow' });
    expect(entries[2]).toMatchObject({ severity: 'ERROR', message: 'unhandled error', big: '10' });
    expect(entries[2].stack_trace).toContain('Error: boom');
    expect(entries[2].cause).toContain('Error: inner');
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
  });
});
