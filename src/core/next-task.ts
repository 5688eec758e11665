interface PostTaskScheduler {
  postTask(task: () => void, options?: { priority?: 'user-blocking' | 'user-visible' | 'background' }): Promise<unknown>;
}

/**
 * Settles in a later task, not a microtask: whoever awaits it lets the event loop first read what
 * arrived on its sockets. setImmediate in Node, scheduler.postTask in browsers (setTimeout's clamp
 * of up to 4 ms per call elsewhere).
 */
export function nextTask(): Promise<void> {
  const g = globalThis as { setImmediate?: (task: () => void) => unknown; scheduler?: PostTaskScheduler };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === 'function') g.setImmediate(resolve);
    else if (g.scheduler && typeof g.scheduler.postTask === 'function') void g.scheduler.postTask(resolve, { priority: 'user-blocking' });
    else setTimeout(resolve, 0);
  });
}
