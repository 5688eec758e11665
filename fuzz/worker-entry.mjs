// Worker threads start without the TypeScript loader the runner has; register it, then load the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
