// deskwire's client: the REST API typed from its OpenAPI document, and a socket
// that resumes itself. ESM, no Node-only import: Node 20+ and browsers.
export { connect, type Connection, type ConnectOptions, type Status, type WebSocketConstructor, type WebSocketLike } from './connect.ts';
export { type DeskwireEvent, type ErrorCode, type HelpDesk, type Message } from './events.ts';
export { rest, type RestClient, type RestOptions } from './rest.ts';
export type { components, paths } from './api.ts';
