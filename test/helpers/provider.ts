import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The message's uuid, from the body. */
  message: string;
}

/** What the provider does with a request: answer with a status, or never answer. */
export type Answer = number | 'hang';

export interface Provider {
  url: string;
  received: Received[];
  /** Requests for one message, in order. */
  of(message: string): Received[];
  /** How the next requests for a message are answered, in order; after them, 200. */
  script(message: string, answers: Answer[]): void;
  close(): Promise<void>;
}

/** A channel provider on a real local port: records every delivery and answers as scripted. */
export async function startProvider(): Promise<Provider> {
  const received: Received[] = [];
  const scripts = new Map<string, Answer[]>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let message = '';
      try {
        message = (JSON.parse(body) as { message: { uuid: string } }).message.uuid;
      } catch {}
      received.push({ headers: req.headers, body, message });
      const answer = scripts.get(message)?.shift() ?? 200;
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: answer < 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    of: (message) => received.filter((r) => r.message === message),
    script: (message, answers) => scripts.set(message, [...answers]),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
