import * as Comlink from 'comlink';
import { LifeboatError, type ErrorCode } from './errors.ts';

/** What crosses a worker boundary for a thrown error: enough for the UI to pick a screen by code. */
export interface SerializedError {
  name: string;
  message: string;
  code?: ErrorCode;
  action?: string;
  stack?: string;
}

/** A LifeboatError rebuilt on the other side of a worker boundary; keeps code and action. */
export class RemoteError extends LifeboatError {
  constructor(serialized: SerializedError) {
    super(serialized.code ?? 'device-error', serialized.message, serialized.action ? { action: serialized.action } : undefined);
    this.name = serialized.name;
    if (serialized.stack) this.stack = serialized.stack;
  }
}

/**
 * Comlink's default throw handler drops every field but name/message/stack; ours keeps the error code
 * and the suggested action, so the UI maps codes to screens instead of parsing messages.
 * Call once in each realm (main thread and every worker).
 */
export function installErrorTransfer(): void {
  const original = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown) {
      const value = (thrown as { value: unknown }).value;
      const serialized: SerializedError =
        value instanceof Error
          ? {
              name: value.name,
              message: value.message,
              stack: value.stack,
              ...(value instanceof LifeboatError ? { code: value.code, action: value.action } : {}),
            }
          : { name: 'Error', message: String(value) };
      return [serialized, []];
    },
    deserialize(serialized: unknown): never {
      throw new RemoteError(serialized as SerializedError);
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}
