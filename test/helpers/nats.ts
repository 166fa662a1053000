import { connect } from 'nats';

export const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether a NATS server with JetStream answers at NATS_URL. */
export async function natsAvailable(): Promise<boolean> {
  try {
    const nc = await connect({ servers: natsUrl, timeout: 2000, reconnect: false });
    try {
      await (await nc.jetstreamManager()).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}
