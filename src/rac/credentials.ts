/**
 * What the RAC keeps between restarts: the refresh token, the account, the gateway's id and the
 * last push sequence it handled. One JSON file in Homebridge's storage directory, mode 0600,
 * replaced atomically so that a crash mid-write never loses the refresh token.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface StoredCredentials {
  version: 1;
  rasUrl: string;
  identifier?: string;
  accountId?: string;
  refreshToken?: string;
  gatewayId?: string;
  /** Table 2: the last push seq handled, sent as PushResume.lastSeq after a reconnect. */
  pushLastSeq: number;
}

/**
 * Where the plugin and its settings page (the custom UI's server) keep the credentials of one
 * RAS: in Homebridge's storage directory, one file per RAS URL.
 */
export function credentialsFile(storagePath: string, rasUrl: string): string {
  return path.join(storagePath, 'igrs-smartlock', `credentials-${Buffer.from(new URL(rasUrl).origin).toString('base64url')}.json`);
}

export class CredentialStore {
  private data: StoredCredentials;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    data: StoredCredentials,
  ) {
    this.data = data;
  }

  /** Opens the store for one RAS; credentials of another RAS URL are not reused. */
  static async open(file: string, rasUrl: string): Promise<CredentialStore> {
    let data: StoredCredentials = { version: 1, rasUrl, pushLastSeq: 0 };
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<StoredCredentials>;
      if (parsed.version === 1 && parsed.rasUrl === rasUrl) {
        data = {
          version: 1,
          rasUrl,
          identifier: typeof parsed.identifier === 'string' ? parsed.identifier : undefined,
          accountId: typeof parsed.accountId === 'string' ? parsed.accountId : undefined,
          refreshToken: typeof parsed.refreshToken === 'string' ? parsed.refreshToken : undefined,
          gatewayId: typeof parsed.gatewayId === 'string' ? parsed.gatewayId : undefined,
          pushLastSeq: Number.isSafeInteger(parsed.pushLastSeq) && (parsed.pushLastSeq ?? 0) >= 0 ? (parsed.pushLastSeq ?? 0) : 0,
        };
      }
    } catch {
      // No file yet, or one that is not ours: start empty rather than refuse to start.
    }
    return new CredentialStore(file, data);
  }

  /** Re-reads the file, to pick up a sign-in made from the settings page. */
  async reload(): Promise<void> {
    const fresh = await CredentialStore.open(this.file, this.data.rasUrl);
    this.data = fresh.data;
  }

  get(): Readonly<StoredCredentials> {
    return this.data;
  }

  /** Applies a change and persists it; writes are serialised, the last one wins. */
  update(change: Partial<Omit<StoredCredentials, 'version' | 'rasUrl'>>): Promise<void> {
    this.data = { ...this.data, ...change };
    const snapshot = JSON.stringify(this.data, null, 2);
    this.writing = this.writing.then(() => this.write(snapshot)).catch(() => this.write(snapshot));
    return this.writing;
  }

  private async write(text: string): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, text, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }
}
