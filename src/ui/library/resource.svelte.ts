import { toUiError, type UiError } from './library-worker.ts';

/** One async load for a view: value, error (shown in place; the rest stays usable), loading. */
export class Resource<T> {
  value = $state.raw<T | undefined>();
  error = $state.raw<UiError | undefined>();
  loading = $state(false);
  private token = 0;

  constructor(load?: () => Promise<T>) {
    if (load) void this.load(load);
  }

  async load(load: () => Promise<T>): Promise<void> {
    const token = ++this.token;
    this.loading = true;
    this.error = undefined;
    try {
      const value = await load();
      if (token === this.token) this.value = value;
    } catch (error) {
      if (token === this.token) {
        this.value = undefined;
        this.error = toUiError(error);
      }
    } finally {
      if (token === this.token) this.loading = false;
    }
  }
}
