/**
 * Runs `fn` over `items` with at most `limit` calls pending. Every item is attempted; the first
 * failure is thrown once all have settled (so nothing is left running behind the caller's back).
 * Used where storage calls are independent and each is a round trip (OPFS moves).
 */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
}
