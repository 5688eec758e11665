/**
 * Who still needs one IN transfer's memory. The session holds it while cutting packets out of it; each
 * data payload queued on a connection holds it until the consumer copied it out (`readInto`). A payload
 * handed to the consumer itself (`read`: the caller owns the returned buffer) pins it for good. When the
 * last hold drops and nothing pinned it, the transfer goes back to the transport for reuse.
 */
export class TransferLease {
  private holds = 1;
  private pinned = false;

  constructor(
    private readonly chunk: Uint8Array,
    private readonly release: (chunk: Uint8Array) => void,
  ) {}

  hold(): void {
    this.holds++;
  }

  /** Some bytes of the transfer now belong to the consumer: never reuse it. */
  pin(): void {
    this.pinned = true;
  }

  drop(): void {
    if (--this.holds === 0 && !this.pinned) this.release(this.chunk);
  }
}
