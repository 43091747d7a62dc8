/** Errors the CLI reports as one line on stderr (`portcullis: <message>`) with an exit code. */
import { STATUS_CODES } from 'node:http';

/** A failure the user can act on; `exitCode` 1 unless said otherwise. */
export class CliError extends Error {
  readonly code: string = 'cli_error';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** The API answered with an error body `{ error: { code, message, details? } }`. */
export class ApiError extends CliError {
  override readonly code: string;
  constructor(
    readonly status: number,
    apiCode: string,
    readonly apiMessage: string,
    readonly details?: unknown,
  ) {
    super(`${status} ${STATUS_CODES[status] ?? 'Error'}: ${apiMessage}`);
    this.name = 'ApiError';
    this.code = apiCode;
  }
}

/** The server could not be reached or did not speak HTTP(S) as expected. */
export class ConnectionError extends CliError {
  override readonly code = 'connection_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
    this.name = 'ConnectionError';
  }
}
