/** Glue between commander and the command handlers: context, exit codes, option parsers. */
import { type Command, InvalidArgumentError } from 'commander';
import type { GlobalOptions } from './config.js';
import { Context, type Io } from './context.js';

/** Shared by every handler of one run: the streams and the exit code to end with. */
export interface Runtime {
  io: Io;
  exitCode: number;
}

/** A command's work; a returned number becomes the exit code (evaluate's 2 for "denied"), anything else is ignored. */
export type Handler<O> = (ctx: Context, args: string[], options: O) => Promise<unknown>;

/** Wraps a handler as a commander action: builds its context and closes the client after. */
export function action<O>(runtime: Runtime, handler: Handler<O>) {
  return async (...raw: unknown[]): Promise<void> => {
    const command = raw.at(-1) as Command;
    const options = raw.at(-2) as O;
    const args = raw.slice(0, -2) as string[];
    const ctx = new Context(runtime.io, command.optsWithGlobals<GlobalOptions>());
    try {
      const code = await handler(ctx, args, options);
      if (typeof code === 'number') runtime.exitCode = code;
    } finally {
      ctx.close();
    }
  };
}

/** An option parser accepting one of `values` in any letter case, answering their canonical spelling. */
export function oneOf<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    const found = values.find((v) => v.toLowerCase() === value.toLowerCase());
    if (found === undefined) throw new InvalidArgumentError(`use one of ${values.join(', ')}`);
    return found;
  };
}

/** An option parser for a whole number of at least 1 (and at most `max`). */
export function positiveInt(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    }
    return n;
  };
}
