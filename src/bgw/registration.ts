/**
 * Stage a (Tables 3–4) as a RAC/BGW relays it: registration (7.4, Fig. 10–11) and removal with
 * the lock present (7.5, Fig. 12). The gateway never holds K_a: the RAS builds the Table 3 frame
 * for the challenge the gateway read, and verifies the lock's Table 4 answer itself.
 */
import { BgwError, withTimeout } from './errors.js';
import type { LockLink } from './session.js';

export interface StageAAuthority {
  /** BsldAuthentication: is the deviceId in the DDMS, and registered, and to whom. */
  bsldAuthentication(deviceId: string): Promise<{ legitimate: boolean; registered: boolean; registeredToYou: boolean }>;
  /** BsldRegistration: the Table 3 bind frame for this challenge, if the setup code is right. */
  bsldRegistration(request: { deviceId: string; challenge: Buffer; name: string; setupCode: string }): Promise<Buffer>;
  /** BsldRemoval with the lock present: the Table 3 unbind frame for this challenge. */
  bsldRemovalFrame(deviceId: string, challenge: Buffer): Promise<Buffer>;
  /** BsldConfirm: the RAS verifies the Table 4 answer; result 0 activates or ends the binding. */
  bsldConfirm(deviceId: string, challenge: Buffer, response: Buffer): Promise<{ result: number }>;
}

export type StageAStep = 'checking' | 'connecting' | 'requesting' | 'writing' | 'confirming' | 'done';

export interface StageAOptions {
  progress?: (step: StageAStep) => void;
  answerTimeoutMs?: number;
}

/** Runs one Table 3/4 exchange on a fresh connection; the lock closes it afterwards. */
async function exchangeStageA(
  link: LockLink,
  frameFor: (challenge: Buffer) => Promise<Buffer>,
  options: StageAOptions,
): Promise<{ challenge: Buffer; answer: Buffer }> {
  options.progress?.('connecting');
  if (link.isConnected) await link.disconnect();
  await link.connect();
  try {
    const challenge = await link.readChallenge();
    options.progress?.('requesting');
    const frame = await frameFor(challenge);
    options.progress?.('writing');
    const unsubscribe: (() => void)[] = [];
    // The lock closes the link right after Table 4, so only a loss with no answer yet fails.
    const answered = new Promise<Buffer>((resolve, reject) => {
      unsubscribe.push(
        link.onFrame(resolve),
        link.onDisconnect(() => {
          reject(new BgwError('disconnected', 'the lock dropped the connection before its Table 4 answer'));
        }),
      );
    });
    answered.catch(() => undefined);
    try {
      await link.writeFrame(frame);
      const answer = await withTimeout(answered, options.answerTimeoutMs ?? 5_000, "the lock's Table 4 answer");
      return { challenge, answer };
    } finally {
      for (const u of unsubscribe) u();
    }
  } finally {
    await link.disconnect().catch(() => undefined);
  }
}

/** 7.4: registers the lock to the signed-in account. The lock must be in pairing mode. */
export async function registerBsld(
  link: LockLink,
  ras: StageAAuthority,
  request: { name: string; setupCode: string },
  options: StageAOptions = {},
): Promise<void> {
  const { deviceId } = link;
  options.progress?.('checking');
  const auth = await ras.bsldAuthentication(deviceId);
  if (!auth.legitimate) throw new BgwError('ras', `${deviceId} is not a lock the RAS knows (not in its device list)`, { status: 425 });
  const { challenge, answer } = await exchangeStageA(
    link,
    (c) => ras.bsldRegistration({ deviceId, challenge: c, name: request.name, setupCode: request.setupCode }),
    options,
  );
  options.progress?.('confirming');
  const { result } = await ras.bsldConfirm(deviceId, challenge, answer);
  if (result !== 0) throw new BgwError('refused', `the lock refused the registration (result 0x${result.toString(16).padStart(2, '0')})`, { result });
  options.progress?.('done');
}

/** 7.5 with the lock present: unbinds it, then the RAS ends the registration. */
export async function removeBsld(link: LockLink, ras: StageAAuthority, options: StageAOptions = {}): Promise<void> {
  const { deviceId } = link;
  const { challenge, answer } = await exchangeStageA(link, (c) => ras.bsldRemovalFrame(deviceId, c), options);
  options.progress?.('confirming');
  const { result } = await ras.bsldConfirm(deviceId, challenge, answer);
  // 0x08: the lock was not bound any more; the RAS counts that as removed too.
  if (result !== 0 && result !== 0x08) throw new BgwError('refused', `the lock refused the removal (result 0x${result.toString(16).padStart(2, '0')})`, { result });
  options.progress?.('done');
}
