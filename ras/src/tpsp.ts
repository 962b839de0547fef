/**
 * TPSP: the RAS's outlet for verification codes (7.1). Pluggable: `log` for development (the
 * code goes to stderr as a plain line, never into the structured log), `smtp` (a minimal
 * client over node:net / node:tls), `webhook` (an HTTP POST an SMS gateway can take).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface VerificationMessage {
  identifier: string;
  code: string;
  expiresIn: number;
}

export interface CodeSender {
  readonly kind: string;
  send(message: VerificationMessage): Promise<void>;
}

/** Development outlet: prints the code for the operator; refuse it in production by choosing another. */
export class LogSender implements CodeSender {
  readonly kind = 'log';
  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n')) {}
  send(m: VerificationMessage): Promise<void> {
    this.write(`[tpsp:log] verification code for ${m.identifier}: ${m.code} (valid ${m.expiresIn} s)`);
    return Promise.resolve();
  }
}

/** Hands each code to a function: for tests and embedding. */
export class CallbackSender implements CodeSender {
  readonly kind = 'callback';
  constructor(private readonly fn: (m: VerificationMessage) => void | Promise<void>) {}
  async send(m: VerificationMessage): Promise<void> {
    await this.fn(m);
  }
}

export class WebhookSender implements CodeSender {
  readonly kind = 'webhook';
  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}
  async send(m: VerificationMessage): Promise<void> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers },
      body: JSON.stringify({ identifier: m.identifier, code: m.code, expiresIn: m.expiresIn }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}`);
  }
}

export interface SmtpOptions {
  /** `smtp://user:pass@host:587` (plain, STARTTLS when offered) or `smtps://…:465` (TLS from the start). */
  url: string;
  from: string;
  subject?: string;
  timeoutMs?: number;
}

/** A minimal SMTP client: EHLO, STARTTLS if offered, AUTH PLAIN if credentials, one message. */
export class SmtpSender implements CodeSender {
  readonly kind = 'smtp';
  private readonly target: URL;

  constructor(private readonly options: SmtpOptions) {
    this.target = new URL(options.url);
    if (this.target.protocol !== 'smtp:' && this.target.protocol !== 'smtps:') throw new Error('SMTP URL must be smtp:// or smtps://');
  }

  async send(m: VerificationMessage): Promise<void> {
    if (!m.identifier.includes('@')) throw new Error('the SMTP outlet delivers to e-mail identifiers only');
    const implicitTls = this.target.protocol === 'smtps:';
    const host = this.target.hostname;
    const port = Number(this.target.port || (implicitTls ? 465 : 587));
    const raw: net.Socket = implicitTls ? tls.connect({ host, port, servername: host }) : net.connect({ host, port });
    const conn = new SmtpConnection(raw, this.options.timeoutMs ?? 15_000);
    try {
      await conn.expect(220);
      let ehlo = await conn.command(`EHLO ras.local`, 250);
      if (!implicitTls && /STARTTLS/i.test(ehlo)) {
        await conn.command('STARTTLS', 220);
        await conn.upgrade(host);
        ehlo = await conn.command('EHLO ras.local', 250);
      }
      const user = decodeURIComponent(this.target.username);
      if (user) {
        const pass = decodeURIComponent(this.target.password);
        await conn.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`, 235, true);
      }
      await conn.command(`MAIL FROM:<${this.options.from}>`, 250);
      await conn.command(`RCPT TO:<${m.identifier}>`, 250);
      await conn.command('DATA', 354);
      const body = [
        `From: <${this.options.from}>`,
        `To: <${m.identifier}>`,
        `Subject: ${this.options.subject ?? 'Your verification code'}`,
        `Date: ${new Date().toUTCString()}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        `Your verification code is ${m.code}. It is valid for ${Math.round(m.expiresIn / 60)} minutes.`,
        '.',
      ].join('\r\n');
      await conn.command(body, 250);
      await conn.command('QUIT', 221).catch(() => undefined);
    } finally {
      conn.destroy();
    }
  }
}

class SmtpConnection {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(
    private socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.failure ??= new Error('SMTP server closed the connection');
      this.waiter?.();
    });
  }

  /** Reads one (possibly multi-line) reply and checks its code. */
  async expect(code: number): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const reply = this.takeReply();
      if (reply !== undefined) {
        if (!reply.startsWith(String(code))) throw new Error(`SMTP: expected ${code}, got ${reply.slice(0, 3)}`);
        return reply;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('SMTP: timed out');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  private takeReply(): string | undefined {
    const lines = this.buffer.split('\r\n');
    for (let i = 0; i < lines.length - 1; i++) {
      // The last line of a reply has a space after the code, the others a dash.
      if (/^\d{3}( |$)/.test(lines[i]!)) {
        const reply = lines.slice(0, i + 1).join('\n');
        this.buffer = lines.slice(i + 1).join('\r\n');
        return reply;
      }
    }
    return undefined;
  }

  /** `secret`: the line carries credentials, so an error never quotes it. */
  async command(line: string, code: number, secret = false): Promise<string> {
    this.socket.write(line + '\r\n');
    try {
      return await this.expect(code);
    } catch (err) {
      if (secret) throw new Error('SMTP: authentication failed', { cause: err });
      throw err;
    }
  }

  async upgrade(servername: string): Promise<void> {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('error');
    const secured = tls.connect({ socket: this.socket, servername });
    await new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', resolve);
      secured.once('error', reject);
    });
    this.socket = secured;
    this.buffer = '';
    this.attach(secured);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The sender named by the environment: RAS_TPSP = log | smtp | webhook. */
export function senderFromEnv(env: NodeJS.ProcessEnv = process.env): CodeSender {
  switch (env.RAS_TPSP ?? 'log') {
    case 'log':
      return new LogSender();
    case 'smtp': {
      if (!env.RAS_SMTP_URL || !env.RAS_SMTP_FROM) throw new Error('RAS_TPSP=smtp needs RAS_SMTP_URL and RAS_SMTP_FROM');
      return new SmtpSender({ url: env.RAS_SMTP_URL, from: env.RAS_SMTP_FROM });
    }
    case 'webhook': {
      if (!env.RAS_WEBHOOK_URL) throw new Error('RAS_TPSP=webhook needs RAS_WEBHOOK_URL');
      const headers: Record<string, string> = env.RAS_WEBHOOK_AUTHORIZATION ? { authorization: env.RAS_WEBHOOK_AUTHORIZATION } : {};
      return new WebhookSender(env.RAS_WEBHOOK_URL, headers);
    }
    default:
      throw new Error(`RAS_TPSP: unknown sender ${env.RAS_TPSP}; use log, smtp or webhook`);
  }
}
