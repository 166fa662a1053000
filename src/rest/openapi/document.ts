import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createDocument, type ZodOpenApiPathsObject } from 'zod-openapi';
import { projectRoot } from '../../config.ts';
import { mediaPaths } from '../media.ts';
import { assignPaths } from '../routes/assign.ts';
import { healthPaths } from '../routes/health.ts';
import { helpDeskPaths } from '../routes/help-desks.ts';
import { inboundPaths } from '../routes/inbound.ts';
import { roomPaths } from '../routes/rooms.ts';
import { sendMessagePaths } from '../routes/send-message.ts';
import { ErrorBody } from './entities.ts';
import { frameSchemas } from './frames.ts';
import { outboundWebhook } from './webhooks.ts';

export const documentPaths: ZodOpenApiPathsObject = {
  '/openapi.json': {
    get: {
      operationId: 'openapi',
      tags: ['operations'],
      summary: 'This document (no credential)',
      responses: { 200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: z.object({ openapi: z.string() }).passthrough() } } } },
    },
  },
  '/docs': {
    get: {
      operationId: 'docs',
      tags: ['operations'],
      summary: 'This document as a page to read and try (no credential)',
      responses: { 200: { description: 'HTML.', content: { 'text/html': { schema: z.string() } } } },
    },
  },
};

/** Every route of the REST API, each from the file that registers and validates it. */
export const apiPaths: ZodOpenApiPathsObject = {
  ...healthPaths,
  ...helpDeskPaths,
  ...assignPaths,
  ...sendMessagePaths,
  ...roomPaths,
  ...inboundPaths,
  ...mediaPaths,
  ...documentPaths,
};

const version = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;

let made: string | undefined;

/** The OpenAPI 3.1 document, as JSON text (made once: the schemas do not change while running). */
export function apiDocument(): string {
  made ??= JSON.stringify(
    createDocument({
      openapi: '3.1.0',
      info: {
        title: 'deskwire',
        version,
        description: readFileSync(join(import.meta.dirname, 'websocket.md'), 'utf8'),
        license: { name: 'MIT', identifier: 'MIT' },
      },
      tags: [
        { name: 'help desks', description: 'Conversations with clients.' },
        { name: 'messages', description: 'What agents send.' },
        { name: 'rooms', description: 'Events of your own, to sockets on `room:<name>`.' },
        { name: 'channels', description: 'What the provider sends back (signed, no agent credential).' },
        { name: 'media', description: 'Files of messages.' },
        { name: 'operations', description: 'For load balancers and monitors.' },
      ],
      paths: apiPaths,
      webhooks: outboundWebhook,
      components: {
        schemas: { Error: ErrorBody, ...frameSchemas },
        securitySchemes: {
          jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token (HS256, `org` claim; `sub` is the agent).' },
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (`dwk_…`), made with `npm run cli -- key create --org <org> --name <name>`.' },
          mediaToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The same token or key, for links a browser opens (`<img src>`).' },
          signature: { type: 'apiKey', in: 'header', name: 'deskwire-signature', description: '`v1=<hex HMAC-SHA256(secret, "<deskwire-timestamp>.<body>")>` with the channel\'s secret.' },
        },
      },
    }),
  );
  return made;
}
