import { connect } from 'nats';

export const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether a NATS server with JetStream answers at NATS_URL; CI (DESKWIRE_REQUIRE_NATS=1) fails instead of skipping. */
export async function natsAvailable(): Promise<boolean> {
  const up = await answers();
  if (!up && process.env.DESKWIRE_REQUIRE_NATS === '1') throw new Error(`NATS with JetStream is required and does not answer at ${natsUrl}`);
  return up;
}

async function answers(): Promise<boolean> {
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
