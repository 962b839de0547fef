import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CredentialStore } from '../../src/rac/credentials.js';

describe('RAC credential store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'igrs-cred-'));
  });

  it('writes the refresh token to a 0600 file and reads it back after a restart', async () => {
    const file = path.join(dir, 'sub', 'cred.json');
    const store = await CredentialStore.open(file, 'https://ras.example');
    await store.update({ refreshToken: 'r'.repeat(40), accountId: '0a1b2c3d4e5f607182', pushLastSeq: 7 });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await CredentialStore.open(file, 'https://ras.example');
    assert.equal(again.get().refreshToken, 'r'.repeat(40));
    assert.equal(again.get().pushLastSeq, 7);
  });

  it('does not reuse credentials of another RAS', async () => {
    const file = path.join(dir, 'cred.json');
    await (await CredentialStore.open(file, 'https://a.example')).update({ refreshToken: 'x'.repeat(40) });
    assert.equal((await CredentialStore.open(file, 'https://b.example')).get().refreshToken, undefined);
  });

  it('starts empty from a corrupt file instead of failing', async () => {
    const file = path.join(dir, 'cred.json');
    await writeFile(file, '{not json');
    const store = await CredentialStore.open(file, 'https://a.example');
    assert.equal(store.get().pushLastSeq, 0);
  });

  it('keeps the last of concurrent updates', async () => {
    const file = path.join(dir, 'cred.json');
    const store = await CredentialStore.open(file, 'https://a.example');
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.update({ pushLastSeq: i + 1 })));
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as { pushLastSeq: number }).pushLastSeq, 20);
  });
});
