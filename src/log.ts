import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination ? pino({ name: 'deskwire', level }, destination) : pino({ name: 'deskwire', level });
}
