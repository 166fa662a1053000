import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { HelpDesk, Message } from './entities.ts';

/** What a webhook channel receives for each outgoing message (docs/channels.md). */
export const outboundWebhook: ZodOpenApiPathsObject = {
  'message.outbound': {
    post: {
      summary: 'An outgoing message, POSTed to the channel\'s URL',
      description:
        'Signed: `deskwire-timestamp` (unix seconds) and `deskwire-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; ' +
        '`idempotency-key` is the message\'s uuid, the same on every attempt. 2xx: `sent`; 408, 429, 5xx, timeouts: retried with backoff; other 4xx: `failed`.',
      requestParams: {
        header: z.object({
          'deskwire-timestamp': z.string(),
          'deskwire-signature': z.string(),
          'idempotency-key': z.guid(),
        }),
      },
      requestBody: {
        content: {
          'application/json': {
            schema: z.strictObject({ event: z.literal('message.outbound'), message: Message, help_desk: HelpDesk }),
          },
        },
      },
      responses: { 200: { description: 'Any 2xx: delivered.' } },
    },
  },
};
