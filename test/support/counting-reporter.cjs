'use strict';
// Mocha's spec reporter, plus its own result counts appended as one JSON line to the file
// named by MOCHA_COUNTS_FILE, so that .ci/run can sum every suite into one closing line.
const fs = require('node:fs');
const Mocha = require('mocha');

class CountingReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.MOCHA_COUNTS_FILE;
      if (!file) return;
      const { passes, failures, pending } = runner.stats ?? this.stats;
      const suite = process.env.MOCHA_SUITE_NAME ?? 'mocha';
      fs.appendFileSync(file, JSON.stringify({ suite, passes, failures, pending }) + '\n');
    });
  }
}

module.exports = CountingReporter;
