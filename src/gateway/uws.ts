import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

// The npm mirror of uWebSockets.js silently falls back to a slow JavaScript
// imitation when its native binary does not load. deskwire exists for speed:
// refuse to start on the imitation instead of degrading without a word.
if (!/\[native code\]/.test(String(uWS.App))) {
  const pkg = createRequire(import.meta.url)('uWebSockets.js/package.json') as { version: string };
  throw new Error(
    `uWebSockets.js ${pkg.version} is running its slow JavaScript fallback, not its native binary ` +
      `(Node ${process.versions.node}, ${process.platform}-${process.arch}, ABI ${process.versions.modules}; ` +
      'UWS_USE_FALLBACK also forces it): use a Node version it ships a binary for (16, 18, 20), ' +
      'or install the official build (see README).',
  );
}

export default uWS;
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';
