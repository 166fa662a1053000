import type { z } from 'zod';
import { BadRequest } from './errors.ts';

/** Parses caller input with a schema; a failure names the first offending field. */
export function validate<T extends z.ZodType>(schema: T, input: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.') || what;
  throw new BadRequest(`invalid_${what}`, `${field}: ${issue.message}`);
}
