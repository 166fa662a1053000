// A channel provider for scenario 8: answers deliveries with 200, or with 503 for a
// share of them (failRate), and counts per message the requests and the 2xx it
// gave: a message answered 2xx twice would be delivered twice.
// Commands: "fail <rate>" sets the share; "report" prints the counts.
import { createServer } from 'node:http';
import { argsOf, commands, say } from '../lib/processes.ts';

let { failRate } = argsOf<{ failRate: number }>();
const requests = new Map<string, number>();
const accepted = new Map<string, number>();

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const message = /"uuid":"([0-9a-f-]{36})"/.exec(body)?.[1] ?? '?';
    requests.set(message, (requests.get(message) ?? 0) + 1);
    if (Math.random() < failRate) {
      res.writeHead(503).end();
      return;
    }
    accepted.set(message, (accepted.get(message) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
server.listen(0, '127.0.0.1', () => say({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook` }));

commands((command) => {
  const [verb, arg] = command.split(' ');
  if (verb === 'fail') {
    failRate = Number(arg);
    requests.clear();
    accepted.clear();
    say({ ok: true });
  } else if (verb === 'report') {
    let twice = 0;
    for (const n of accepted.values()) if (n > 1) twice++;
    say({ messages: requests.size, requests: [...requests.values()].reduce((a, b) => a + b, 0), accepted: accepted.size, acceptedTwice: twice });
  }
});
