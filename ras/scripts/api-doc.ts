/** Prints the generated API reference, or with --write updates docs/ras.md in place. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiMarkdown, withApi } from '../src/api-doc.js';

export const DOC_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/ras.md');

if (process.argv.includes('--write')) {
  writeFileSync(DOC_PATH, withApi(readFileSync(DOC_PATH, 'utf8')));
  process.stdout.write(`updated ${DOC_PATH}\n`);
} else {
  process.stdout.write(apiMarkdown() + '\n');
}
