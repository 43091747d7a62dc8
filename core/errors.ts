/**
 * Core errors. Each carries a stable `code`, and the HTTP edge maps codes to statuses.
 * Store adapters translate their backend's errors into these, keeping the original as `cause`.
 */
export abstract class PortcullisError extends Error {
  abstract readonly code: string;
  readonly details?: unknown;
  constructor(message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

/** Input that fails validation; `details` lists the offending fields. */
export class ValidationError extends PortcullisError {
  readonly code = 'invalid_argument';
}

/** The thing asked for does not exist. */
export class NotFoundError extends PortcullisError {
  readonly code = 'not_found';
}

/** A unique key (a rule or cluster name) is already taken. */
export class ConflictError extends PortcullisError {
  readonly code = 'conflict';
}

/** A write carried a version that is no longer current (HTTP 412). */
export class VersionConflictError extends PortcullisError {
  readonly code = 'version_conflict';
}

/** The store did not answer, or answered that it is overloaded; worth retrying later. */
export class UnavailableError extends PortcullisError {
  readonly code = 'unavailable';
}

/** A read or write did not finish before its deadline. */
export class DeadlineExceededError extends PortcullisError {
  readonly code = 'deadline_exceeded';
}

/** No or unknown credentials. */
export class UnauthenticatedError extends PortcullisError {
  readonly code = 'unauthenticated';
}

/** Known caller without the role the operation needs. */
export class PermissionDeniedError extends PortcullisError {
  readonly code = 'permission_denied';
}
