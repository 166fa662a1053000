import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

// The npm mirror of uWebSockets.js silently falls back to a slow JavaScript
// imitation when its native binary does not load. deskwire exists for speed:
// refuse to start on the imitation instead of degrading without a word.
if (!/\[native code\]/.test(String(uWS.App))) {
  const pkg = createRequire(import.meta.url)('uWebSockets.js/package.json') as { version: string };
  throw new Error(
    `uWebSockets.js ${pkg.version} has no native binary for Node ${process.versions.node} ` +
      `(${process.platform}-${process.arch}, ABI ${process.versions.modules}); ` +
      'use a Node version it ships a binary for, or install the official build (see README).',
  );
}

export default uWS;
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';
