/**
 * @peculiar/x509 pulls in tsyringe, which refuses to load unless the (never standardised)
 * Reflect metadata API exists. It only stores and reads per-class metadata, so a WeakMap-backed
 * shim is enough; importing this module before '@peculiar/x509' avoids a polyfill dependency.
 */
type MetadataTarget = object;
const store = new WeakMap<MetadataTarget, Map<string | symbol | undefined, Map<unknown, unknown>>>();

function table(target: MetadataTarget, property: string | symbol | undefined, create: boolean): Map<unknown, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let entries = byProperty.get(property);
  if (!entries && create) {
    entries = new Map();
    byProperty.set(property, entries);
  }
  return entries;
}

interface ReflectMetadataApi {
  defineMetadata(key: unknown, value: unknown, target: MetadataTarget, property?: string | symbol): void;
  getOwnMetadata(key: unknown, target: MetadataTarget, property?: string | symbol): unknown;
  getMetadata(key: unknown, target: MetadataTarget, property?: string | symbol): unknown;
  hasOwnMetadata(key: unknown, target: MetadataTarget, property?: string | symbol): boolean;
  hasMetadata(key: unknown, target: MetadataTarget, property?: string | symbol): boolean;
  metadata(key: unknown, value: unknown): (target: MetadataTarget, property?: string | symbol) => void;
}

const reflect = Reflect as unknown as Partial<ReflectMetadataApi>;
if (typeof reflect.getMetadata !== 'function') {
  const api: ReflectMetadataApi = {
    defineMetadata(key, value, target, property) {
      table(target, property, true)!.set(key, value);
    },
    getOwnMetadata(key, target, property) {
      return table(target, property, false)?.get(key);
    },
    hasOwnMetadata(key, target, property) {
      return table(target, property, false)?.has(key) ?? false;
    },
    getMetadata(key, target, property) {
      for (let t: MetadataTarget | null = target; t; t = Object.getPrototypeOf(t) as MetadataTarget | null) {
        const entries = table(t, property, false);
        if (entries?.has(key)) return entries.get(key);
      }
      return undefined;
    },
    hasMetadata(key, target, property) {
      for (let t: MetadataTarget | null = target; t; t = Object.getPrototypeOf(t) as MetadataTarget | null) {
        if (table(t, property, false)?.has(key)) return true;
      }
      return false;
    },
    metadata(key, value) {
      return (target, property) => api.defineMetadata(key, value, target, property);
    },
  };
  Object.assign(Reflect, api);
}
export {};
