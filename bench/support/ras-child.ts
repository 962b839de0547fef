/**
 * The RAS alone in its own process (one core, as `npm run ras` runs it) on an existing database,
 * with rate limits lifted so the bench measures the server, not its limiter. Prints one JSON
 * line with its URL; stops when its stdin closes (the parent ended, however it ended).
 */
import { startRas } from '@igrs-smartlock/ras';

const [dbPath] = process.argv.slice(2);
if (!dbPath) {
  console.error('usage: ras-child.ts DB_PATH (RAS_MASTER_KEY in the environment)');
  process.exit(2);
}
const lifted = { limit: 1_000_000_000, windowSeconds: 1 };
const ras = await startRas({
  dbPath,
  port: 0,
  logger: false,
  rateLimits: { login: lifted, verification: lifted, registration: lifted, session: lifted, frames: lifted, bsldAuthentication: lifted, operation: lifted },
});
process.stdout.write(`${JSON.stringify({ url: ras.url })}\n`);
const stop = () => {
  void ras.close().then(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
