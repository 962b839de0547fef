/**
 * The plugin as npm would install it: package.json's `files` copied into a temp directory, with
 * dist/ freshly built there, so the settings server is tested from the layout Homebridge UI
 * forks it from. node_modules is a link to the repository's, standing in for the install.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let layout: Promise<string> | undefined;

/** Builds once per test run; every suite shares the result (read-only). */
export function publishedLayout(): Promise<string> {
  layout ??= build();
  return layout;
}

async function build(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'igrs-published-'));
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')]);
  for (const entry of pkg.files) {
    if (entry === 'dist') continue;
    await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  await cp(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}
