interface PostTaskScheduler {
  postTask(task: () => void, options?: { priority?: 'user-blocking' | 'user-visible' | 'background' }): Promise<unknown>;
}

/** Runs a task at the end of the current one; the returned dispose releases any channel it holds. */
export function createTaskScheduler(): { schedule: (task: () => void) => void; dispose: () => void } {
  const g = globalThis as { setImmediate?: (task: () => void) => unknown; scheduler?: PostTaskScheduler };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return { schedule: (task) => void setImmediate(task), dispose: () => {} };
  }
  const scheduler = g.scheduler;
  if (scheduler && typeof scheduler.postTask === 'function') {
    return { schedule: (task) => void scheduler.postTask(task, { priority: 'user-blocking' }).catch(() => {}), dispose: () => {} };
  }
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    const queue: (() => void)[] = [];
    channel.port1.onmessage = () => queue.shift()?.();
    return {
      schedule: (task) => {
        queue.push(task);
        channel.port2.postMessage(null);
      },
      dispose: () => {
        channel.port1.close();
        channel.port2.close();
      },
    };
  }
  return { schedule: (task) => void setTimeout(task, 0), dispose: () => {} };
}

/** One scheduler for nextTask, made on first use and kept (a MessageChannel fallback lives as long as the page). */
let shared: ((task: () => void) => void) | undefined;

/**
 * Settles in a later task, not a microtask: whoever awaits it lets the event loop first read what
 * arrived on its sockets (setImmediate in Node; see createTaskScheduler for browsers).
 */
export function nextTask(): Promise<void> {
  shared ??= createTaskScheduler().schedule;
  const schedule = shared;
  return new Promise((resolve) => schedule(resolve));
}
