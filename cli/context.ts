/**
 * What a command sees: its output streams, the environment, the global options and a lazily
 * built API client. Commands never touch `process` directly, so tests can run them in-process.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiClient } from './client.js';
import { type GlobalOptions, resolveConnection } from './config.js';
import { CliError } from './errors.js';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  now: () => Date;
  /** Whether stderr is a terminal (progress bars are drawn only there), and its width. */
  stderrIsTTY?: boolean;
  columns?: number;
  /**
   * Calls `handler` on Ctrl-C (SIGINT) instead of ending the process, until the returned
   * function is called: for commands that follow something until stopped (`admissions tail`).
   */
  onInterrupt?: (handler: () => void) => () => void;
}

export class Context {
  private api: ApiClient | undefined;

  constructor(
    readonly io: Io,
    readonly options: GlobalOptions,
  ) {}

  get json(): boolean {
    return this.options.json === true;
  }

  /** The API client, built on first use (so `--help` and local errors need no server). */
  client(): ApiClient {
    if (this.api === undefined) {
      const connection = resolveConnection(this.options, this.io.env, this.io.cwd);
      if (connection.insecure && connection.url.protocol === 'https:') {
        this.warn(
          `--insecure: not verifying the TLS certificate of ${connection.url.origin}; anyone on the path can read your API key`,
        );
      }
      this.api = new ApiClient(connection);
    }
    return this.api;
  }

  /** A line on stdout. */
  print(text = ''): void {
    this.io.stdout(`${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A note on stderr that does not change the outcome. */
  note(text: string): void {
    this.io.stderr(`portcullis: ${text}\n`);
  }

  warn(text: string): void {
    this.io.stderr(`portcullis: warning: ${text}\n`);
  }

  /** A file's bytes, or stdin's when `file` is `-`. */
  async readInput(file: string): Promise<{ name: string; data: Buffer }> {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of this.io.stdin)
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      return { name: '<stdin>', data: Buffer.concat(chunks) };
    }
    const path = resolve(this.io.cwd, file);
    try {
      return { name: file, data: readFileSync(path) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EISDIR'
            ? 'is a directory'
            : code === 'EACCES'
              ? 'permission denied'
              : String(error);
      throw new CliError(`cannot read ${file}: ${why}`);
    }
  }

  close(): void {
    this.api?.close();
  }
}
