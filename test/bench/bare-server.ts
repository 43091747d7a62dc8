/**
 * The baseline of the webhook benchmark (DESIGN.md §7): a bare Node HTTPS server that reads
 * each request body and answers a canned AdmissionReview — the least any webhook must do.
 * Run as a child process by webhook.ts; configured by BENCH_* environment variables.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`bare-server: ${name} is required`);
  return value;
}

const response = Buffer.from(required('BENCH_RESPONSE'));
const server = createServer(
  { cert: readFileSync(required('BENCH_CERT')), key: readFileSync(required('BENCH_KEY')) },
  (req, res) => {
    // Read the whole body, as a webhook must before it can answer.
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': response.length });
      res.end(response);
    });
  },
);
server.listen(Number(required('BENCH_PORT')), required('BENCH_HOST'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
