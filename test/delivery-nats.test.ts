// test/delivery.test.ts again, with events reaching the gateway through NATS
// JetStream (FANOUT=nats) instead of its LISTEN: the same frames, ids and resumes.
import { natsAvailable } from './helpers/nats.ts';

if (await natsAvailable()) {
  process.env.DESKWIRE_TEST_FANOUT = 'nats';
  await import('./delivery.test.ts');
} else {
  const { test } = await import('node:test');
  test('FANOUT=nats delivery', { skip: 'NATS is not running at NATS_URL' }, () => {});
}
