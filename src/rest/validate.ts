import type { Context } from 'koa';
import type { z } from 'zod';
import { BadRequest } from '../errors.ts';

/** Parses caller input with a schema; a failure names the first offending field. */
export function validate<T extends z.ZodType>(schema: T, input: unknown, what: 'query' | 'path' | 'body'): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.') || what;
  const missing = issue.path.length > 0 && valueAt(input, issue.path) === undefined;
  throw new BadRequest(`invalid_${what}`, `${field}: ${missing ? 'is required' : issue.message}`);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined), input);
}

/** A request without a body: it has no type either (type-is), so say what is missing, not which type to use. */
export function hasNoBody(ctx: Context): boolean {
  return !ctx.request.length && !ctx.get('transfer-encoding');
}
