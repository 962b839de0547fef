import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withApi } from '../src/api-doc.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/ras.md');

describe('docs/ras.md', () => {
  it('carries the API table generated from the shared route table (run `npm run docs -w ras` after a schema change)', () => {
    const doc = readFileSync(DOC, 'utf8');
    assert.equal(doc, withApi(doc));
  });
});
