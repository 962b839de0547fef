/**
 * What the settings page tells a person when something fails: one sentence saying what went
 * wrong and one saying what to do next. Table 1 statuses mean different things depending on the
 * call (423 is a verification code in 7.1 but a setup code in 7.4), so every message is chosen
 * for the action that failed, not only for the error.
 */
import { Result, Status } from '../protocol/index.js';
import { BgwError } from '../bgw/errors.js';
import { RasError } from '../rac/errors.js';

export type UiAction =
  | 'status'
  | 'send-code'
  | 'create-account'
  | 'sign-in'
  | 'sign-out'
  | 'list-locks'
  | 'scan'
  | 'register-lock'
  | 'remove-lock'
  | 'share-lock'
  | 'unshare-lock';

/** A stable code the page can branch on, e.g. to switch to the sign-in form. */
export type UiErrorCode =
  | 'invalid-input'
  | 'wrong-verification-code'
  | 'wrong-setup-code'
  | 'wrong-credentials'
  | 'user-exists'
  | 'weak-password'
  | 'signed-out'
  | 'lock-registered-elsewhere'
  | 'lock-not-legitimate'
  | 'lock-not-found'
  | 'no-such-account'
  | 'not-owner'
  | 'rate-limited'
  | 'ras-unreachable'
  | 'ras-error'
  | 'lock-out-of-range'
  | 'lock-busy'
  | 'lock-not-in-pairing-mode'
  | 'lock-refused'
  | 'lock-protocol'
  | 'bluetooth-unavailable'
  | 'busy'
  | 'internal';

export interface UiProblem {
  code: UiErrorCode;
  /** What went wrong, in the person's terms. */
  message: string;
  /** What to do about it. */
  hint: string;
}

/** A failure the UI server itself detects (bad input, nothing to act on). */
export class UiError extends Error {
  override readonly name = 'UiError';
  constructor(
    readonly code: UiErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const SETUP_CODE_ACTIONS: ReadonlySet<UiAction> = new Set(['register-lock']);

export function explain(err: unknown, action: UiAction, context: { rasUrl?: string } = {}): UiProblem {
  if (err instanceof UiError) return { code: err.code, message: err.message, hint: err.hint };
  if (err instanceof RasError) return explainRas(err, action, context.rasUrl);
  if (err instanceof BgwError) return explainBgw(err, action);
  return {
    code: 'internal',
    message: `Something unexpected went wrong (${err instanceof Error ? err.message : String(err)}).`,
    hint: 'Try again; if it keeps happening, look at the Homebridge log and report it.',
  };
}

function explainRas(err: RasError, action: UiAction, rasUrl: string | undefined): UiProblem {
  const where = rasUrl ? ` at ${rasUrl}` : '';
  if (err.kind === 'signed-out') {
    return { code: 'signed-out', message: 'You are not signed in to the remote access server.', hint: 'Sign in (or create an account) in the Account section first.' };
  }
  if (err.isOutage) {
    return {
      code: 'ras-unreachable',
      message: `The remote access server${where} cannot be reached or is not working right now.`,
      hint: 'Check the RAS address in the settings, that the server is running, and that this Homebridge is online; then try again.',
    };
  }
  switch (err.status) {
    case Status.CodeWrong:
      return SETUP_CODE_ACTIONS.has(action)
        ? { code: 'wrong-setup-code', message: 'The setup code is wrong.', hint: 'Type the 8-digit setup code printed on the lock (and on its box), then try again.' }
        : {
            code: 'wrong-verification-code',
            message: 'The verification code is wrong or has expired.',
            hint: 'Check the 6-digit code in the message you received, or press "Send code" again for a new one.',
          };
    case Status.UserExists:
      return { code: 'user-exists', message: 'An account with this e-mail address or phone number already exists.', hint: 'Sign in with it instead, using "I already have an account".' };
    case Status.WeakPassword:
      return { code: 'weak-password', message: 'The server refused this password as too weak.', hint: 'Choose a longer password (at least 8 characters; a few words work well).' };
    case Status.Unauthorized:
      return action === 'sign-in'
        ? { code: 'wrong-credentials', message: 'The e-mail address or phone number and password do not match an account.', hint: 'Check both and try again, or create an account.' }
        : { code: 'signed-out', message: 'The server no longer accepts this session.', hint: 'Sign in again in the Account section.' };
    case Status.TokenInvalid:
      return { code: 'signed-out', message: 'Your session with the remote access server has ended.', hint: 'Sign in again in the Account section.' };
    case Status.BsldRegisteredElsewhere:
      return {
        code: 'lock-registered-elsewhere',
        message: 'This lock is already registered to another account.',
        hint: "Its owner must remove it first (from the lock's list in their app or Homebridge). If it is yours, sign in with that account.",
      };
    case Status.BsldNotLegitimate:
      return {
        code: 'lock-not-legitimate',
        message: 'The remote access server does not know this lock: it is not in the maker\'s list of genuine locks.',
        hint: 'Check that the lock is one your RAS supports; contact its maker or the operator of the RAS.',
      };
    case Status.NotFound:
      if (action === 'share-lock') {
        return { code: 'no-such-account', message: 'There is no account with that e-mail address or phone number.', hint: 'Ask the person to create an account first, then share again.' };
      }
      return { code: 'lock-not-found', message: 'The lock is not on your account (any more).', hint: 'Reload the list of locks.' };
    case Status.Forbidden:
      return { code: 'not-owner', message: 'Only the owner of this lock can do that.', hint: 'Ask the owner of the lock, or sign in with the owner\'s account.' };
    case Status.RateLimited: {
      const wait = err.details.retryAfter;
      return {
        code: 'rate-limited',
        message: 'Too many attempts in a short time.',
        hint: wait ? `Wait ${wait} seconds, then try again.` : 'Wait a minute, then try again.',
      };
    }
    case Status.LockRefused:
      return explainResult(err.details.result, action);
    case Status.BadRequest:
      return { code: 'invalid-input', message: `The server refused the request${err.details.field ? ` (${err.details.field})` : ''}.`, hint: 'Check what you typed and try again.' };
    default:
      return { code: 'ras-error', message: `The remote access server refused: ${err.message}.`, hint: 'Try again; if it keeps happening, ask the operator of the RAS.' };
  }
}

function explainBgw(err: BgwError, action: UiAction): UiProblem {
  switch (err.code) {
    case 'unreachable':
    case 'timeout':
    case 'disconnected':
      return {
        code: 'lock-out-of-range',
        message: 'The lock did not answer over Bluetooth: it is out of range, asleep or switched off.',
        hint:
          action === 'remove-lock'
            ? 'Bring the Homebridge and the lock closer (within a few metres) and try again, or choose "Remove without the lock".'
            : 'Bring the Homebridge and the lock closer (within a few metres), check its batteries, and try again.',
      };
    case 'busy':
      return { code: 'lock-busy', message: 'Bluetooth is busy with this lock right now.', hint: 'Wait a few seconds and try again.' };
    case 'refused':
      return explainResult(err.details.result, action);
    case 'protocol':
      return {
        code: 'lock-protocol',
        message: 'The lock answered something the gateway could not verify.',
        hint: 'Try again; if it keeps happening, the lock may not follow ISO/IEC 14543-5-104 or may need a firmware update.',
      };
    case 'ras':
      if (err.details.status === Status.BsldNotLegitimate) {
        return explainRas(new RasError('status', err.message, { status: Status.BsldNotLegitimate }), action, undefined);
      }
      return { code: 'ras-error', message: `The remote access server refused: ${err.message}.`, hint: 'Try again; if it keeps happening, ask the operator of the RAS.' };
    case 'bus':
    case 'closed':
      return {
        code: 'bluetooth-unavailable',
        message: `Bluetooth is not available on this Homebridge (${err.message}).`,
        hint: 'Check that the machine has a Bluetooth adapter, that BlueZ (bluetoothd) is running, and the adapter address in the settings.',
      };
  }
}

function explainResult(result: number | undefined, action: UiAction): UiProblem {
  switch (result) {
    case Result.PairingModeRequired:
      return {
        code: 'lock-not-in-pairing-mode',
        message: 'The lock is not in pairing mode.',
        hint: 'Press the button on the lock (pairing mode lasts 60 seconds), then press Register again.',
      };
    case Result.AccountMismatch:
      return {
        code: 'lock-registered-elsewhere',
        message: 'The lock is bound to another account than the one the server expected.',
        hint:
          action === 'remove-lock'
            ? 'Choose "Remove without the lock" to take it off your account; the lock itself then needs to be registered again in pairing mode.'
            : 'Press the button on the lock and register it again.',
      };
    case Result.BatteryTooLow:
      return { code: 'lock-refused', message: 'The lock refused: its battery is too low.', hint: 'Replace the batteries, then try again.' };
    case Result.Busy:
      return { code: 'lock-busy', message: 'The lock is busy.', hint: 'Wait a few seconds and try again.' };
    default:
      return {
        code: 'lock-refused',
        message: `The lock refused${result === undefined ? '' : ` (result 0x${result.toString(16).padStart(2, '0')})`}.`,
        hint: 'Try again; if it keeps happening, restart the lock (take a battery out for a few seconds).',
      };
  }
}
