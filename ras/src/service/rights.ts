/**
 * Who may do what with a BSLD, at a given moment: the owner always, a member inside its
 * window. Every authorisation point (sessions, frames, pushes, events) asks here.
 */
import { RasError } from '../errors.js';
import type { BindingRow, MemberRow, Storage } from '../storage/storage.js';

export interface Right {
  role: 'owner' | 'member';
  binding: BindingRow;
  member?: MemberRow;
}

/** The account's relation to the lock regardless of time, or undefined if it has none. */
export async function relationOf(storage: Storage, deviceId: string, accountId: string): Promise<Right | undefined> {
  const binding = await storage.getBinding(deviceId);
  if (!binding) return undefined;
  if (binding.ownerAccountId === accountId) return { role: 'owner', binding };
  const member = await storage.getMember(deviceId, accountId);
  return member ? { role: 'member', binding, member } : undefined;
}

/** Whether the right holds at `now` and for `margin` seconds more. */
export function holds(right: Right, now: number, margin = 0): boolean {
  if (right.role === 'owner') return true;
  const m = right.member!;
  if (m.validFrom !== null && now < m.validFrom) return false;
  if (m.validUntil !== null && now + margin >= m.validUntil) return false;
  return true;
}

/** 404 without any relation (the lock's existence is not for strangers), 403 outside the window. */
export async function requireRight(storage: Storage, deviceId: string, accountId: string, now: number, margin = 0): Promise<Right> {
  const right = await relationOf(storage, deviceId, accountId);
  if (!right) throw new RasError(404, 'no such BSLD');
  if (!holds(right, now, margin)) {
    throw new RasError(403, margin > 0 ? `outside the shared window, or it ends within ${margin} s` : 'outside the shared window');
  }
  return right;
}

export async function requireOwner(storage: Storage, deviceId: string, accountId: string): Promise<Right> {
  const right = await relationOf(storage, deviceId, accountId);
  if (!right) throw new RasError(404, 'no such BSLD');
  if (right.role !== 'owner') throw new RasError(403, 'only the owner may do this');
  return right;
}
