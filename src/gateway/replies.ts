import { type HttpError, renderError } from '../errors.ts';
import type { HttpResponse } from './uws.ts';

/** Refuses an upgrade (or any request on the WebSocket port) as REST would: status, headers, JSON. */
export function reply(res: HttpResponse, e: HttpError): void {
  const answer = renderError(e);
  res.cork(() => {
    res.writeStatus(answer.statusLine);
    for (const [name, value] of Object.entries(answer.headers)) res.writeHeader(name, value);
    res.end(answer.body);
  });
}
