/**
 * The router's paths for a path of the document: `{name}` becomes `:name`, and a
 * path ending in `/` is also taken without it (the seed's clients send both).
 * Routes are registered with this, so a route is where its document says it is.
 */
export function routePaths(documented: string): string[] {
  const path = documented.replace(/\{(\w+)\}/g, ':$1');
  return path.endsWith('/') && path.length > 1 ? [path.slice(0, -1), path] : [path];
}

/** Both credentials an agent's request may carry: `Authorization: Bearer <JWT | API key>`. */
export const agentSecurity: Record<string, string[]>[] = [{ jwt: [] }, { apiKey: [] }];
