import createFetchClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './api.ts';

export interface RestOptions {
  /** The REST base URL: `http://host:PORT`. */
  url: string;
  /** A token or API key; a function is called before every request. */
  token: string | (() => string | Promise<string>);
  fetch?: typeof globalThis.fetch;
}

export type RestClient = Client<paths>;

/**
 * The REST API, typed from its OpenAPI document (openapi-fetch): every path, its
 * parameters, its body and its answers, errors included.
 *
 *   const { data, error } = await rest.GET('/api/help-desks/{uuid}/history/', { params: { path: { uuid }, query: { limit: 50 } } });
 */
export function rest(opts: RestOptions): RestClient {
  const client = createFetchClient<paths>({ baseUrl: opts.url.replace(/\/$/, ''), fetch: opts.fetch });
  const auth: Middleware = {
    async onRequest({ request }) {
      const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
      request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  };
  client.use(auth);
  return client;
}
