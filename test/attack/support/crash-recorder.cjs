// Preloaded (--require) into the Homebridge child: records every unhandled rejection and uncaught
// exception to $IGRS_CRASH_FILE, and otherwise leaves Node's behaviour as it was.
'use strict';
const { appendFileSync } = require('node:fs');

const file = process.env.IGRS_CRASH_FILE;
const note = (kind, err) => {
  if (!file) return;
  const text = err instanceof Error ? `${err.stack ?? err.message}` : String(err);
  appendFileSync(file, JSON.stringify({ kind, at: new Date().toISOString(), error: text }) + '\n');
};
// The monitor event observes without handling, so a crash still crashes.
process.on('uncaughtExceptionMonitor', (err) => note('uncaughtException', err));
process.on('unhandledRejection', (reason) => {
  note('unhandledRejection', reason);
  // Alone, this listener would swallow the rejection; do what Node's default (throw) mode does.
  if (process.listenerCount('unhandledRejection') === 1) {
    setImmediate(() => {
      throw reason;
    });
  }
});
