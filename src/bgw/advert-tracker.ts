/**
 * Decides which sealed advert states may refresh what HomeKit shows. The sealed block has no
 * integrity check of its own, so a state counts only after an authenticated stage-b session
 * anchored the reference, and then only when the profile's acceptance rule calls it newer.
 */
import { judgeAdvertState, openAdvertState, type AdvertReference, type AdvertState, type LockState } from '../protocol/index.js';

export class AdvertTracker {
  private reference: AdvertReference | undefined;
  private anchorLockState: LockState | undefined;

  constructor(
    private readonly advertKey: Buffer,
    private readonly nowSeconds: () => number = () => performance.now() / 1000,
  ) {}

  /** A stage-b session showed this authenticated state: the next matching advert anchors. */
  resetFromSession(lockState: LockState): void {
    this.anchorLockState = lockState;
    this.reference = undefined;
  }

  /** The newer state this sealed block proves, or undefined (stale, forged, unanchored). */
  observe(sealed: Uint8Array): AdvertState | undefined {
    let state: AdvertState;
    try {
      state = openAdvertState(this.advertKey, sealed);
    } catch {
      return undefined;
    }
    const now = this.nowSeconds();
    if (!this.reference) {
      if (this.anchorLockState === undefined || state.lockState !== this.anchorLockState) return undefined;
      this.reference = { stateCounter: state.stateCounter, bootId: state.bootId, tick: state.tick, atSeconds: now };
      return undefined;
    }
    if (judgeAdvertState(this.reference, state, now) !== 'newer') return undefined;
    this.reference = { stateCounter: state.stateCounter, bootId: state.bootId, tick: state.tick, atSeconds: now };
    return state;
  }
}
