/**
 * The device's "Trust This Computer?" dialog and passcode lock, scripted. A Pair request from a
 * new host raises the dialog; until it is answered Pair replies PairingDialogResponsePending.
 */
export interface TrustOptions {
  /**
   * How the person answers: 'accept' (after `acceptAfterMs`), 'deny' (every Pair is refused), or
   * 'manual' (the dialog stays up until respond() is called — demo mode and UI tests).
   */
  response?: 'accept' | 'deny' | 'manual';
  /** Delay between the dialog appearing and the person tapping Trust. Default 0. */
  acceptAfterMs?: number;
  /** Passcode-locked: Pair and StartService answer PasswordProtected until unlock(). */
  locked?: boolean;
}

export type PairDecision = 'accepted' | 'pending' | 'denied' | 'locked';

export class TrustDialog {
  response: 'accept' | 'deny' | 'manual';
  acceptAfterMs: number;
  locked: boolean;
  /** HostID whose dialog is showing, and when it appeared. */
  private showing: { hostId: string; since: number; answer?: 'accept' | 'deny' } | undefined;
  /** Hosts that asked, in order (tests assert the dialog appeared). */
  readonly prompts: string[] = [];

  constructor(options: TrustOptions = {}) {
    this.response = options.response ?? 'accept';
    this.acceptAfterMs = options.acceptAfterMs ?? 0;
    this.locked = options.locked ?? false;
  }

  get isShowing(): boolean {
    return this.showing !== undefined;
  }

  unlock(): void {
    this.locked = false;
  }

  lock(): void {
    this.locked = true;
  }

  /** Answers the visible dialog ('manual' mode, or to override a scripted answer). */
  respond(answer: 'accept' | 'deny'): void {
    if (this.showing) this.showing.answer = answer;
  }

  /** Called by lockdownd for each Pair request from a host that is not yet trusted. */
  decide(hostId: string, now = Date.now()): PairDecision {
    if (this.locked) return 'locked';
    if (!this.showing || this.showing.hostId !== hostId) {
      this.showing = { hostId, since: now };
      this.prompts.push(hostId);
    }
    const shown = this.showing;
    const answer =
      shown.answer ??
      (this.response === 'deny' ? 'deny' : this.response === 'accept' && now - shown.since >= this.acceptAfterMs ? 'accept' : undefined);
    if (answer === undefined) return 'pending';
    this.showing = undefined;
    return answer === 'accept' ? 'accepted' : 'denied';
  }
}
