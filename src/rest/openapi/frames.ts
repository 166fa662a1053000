import { z } from 'zod';
import { ErrorBody, HelpDesk, Message } from './entities.ts';

// The WebSocket's frames (docs/topics.md), as schemas: listed among the document's
// components so that clients get their types from the same file as the REST ones.

const id = z.string().meta({ description: 'The event\'s id in the organization\'s stream: resume after it with `?since=`.' });

export const MessageFrame = z
  .strictObject({
    type: z.enum(['new_message', 'update_message']),
    data: z.string().meta({ description: 'A Message, as a JSON string (as the seed sends it).', contentMediaType: 'application/json' }),
    id,
  })
  .meta({ id: 'MessageFrame', description: 'On `org`, `desk:<uuid>` and `inbox`. `data` parses to a Message.' });

export const HelpDeskFrame = z
  .strictObject({
    type: z.literal('update_helpdesk'),
    data: z.string().meta({ description: 'A HelpDesk, as a JSON string.', contentMediaType: 'application/json' }),
    id,
  })
  .meta({ id: 'HelpDeskFrame', description: 'On `org`, `desk:<uuid>` and `inbox`. `data` parses to a HelpDesk.' });

export const RoomFrame = z
  .strictObject({
    type: z.string().meta({ description: 'The publisher\'s event type.' }),
    data: z.string().meta({ description: 'The published JSON, as a string.' }),
    id,
    room: z.string(),
  })
  .meta({ id: 'RoomFrame', description: 'On `room:<name>`.' });

export const ResyncFrame = z
  .strictObject({ type: z.literal('resync_required') })
  .meta({ id: 'ResyncFrame', description: 'The socket cannot be resumed exactly (too far behind, or past the retention): reload over REST, then connect without `since`.' });

export const SubscribedFrame = z
  .strictObject({ type: z.literal('subscribed'), topics: z.array(z.string()) })
  .meta({ id: 'SubscribedFrame', description: 'The socket\'s topics, after a subscribe or an unsubscribe.' });

export const ErrorFrame = z
  .strictObject({ type: z.literal('error'), code: ErrorBody.shape.error.shape.code, message: z.string() })
  .meta({ id: 'ErrorFrame', description: 'A frame the socket sent was refused; the socket stays open.' });

export const PongFrame = z
  .strictObject({ type: z.literal('pong') })
  .meta({ id: 'PongFrame', description: 'The answer to a ping.' });

export const ClientFrame = z
  .union([
    z.strictObject({ type: z.enum(['subscribe', 'unsubscribe']), topics: z.array(z.string()) }),
    z.strictObject({ type: z.literal('ping') }),
  ])
  .meta({ id: 'ClientFrame', description: 'What a client may send: a subscribe, an unsubscribe, or a ping. Nothing a client sends is relayed to others.' });

/** Every schema of the socket, for the document's components (Message and HelpDesk are what `data` holds). */
export const frameSchemas = { Message, HelpDesk, MessageFrame, HelpDeskFrame, RoomFrame, ResyncFrame, SubscribedFrame, ErrorFrame, PongFrame, ClientFrame };
