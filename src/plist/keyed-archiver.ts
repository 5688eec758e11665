import { PlistError } from './errors.ts';
import { APPLE_EPOCH_OFFSET_SECONDS, MAX_PLIST_DEPTH, PlistReal, PlistUid, isPlistDict, type PlistDict, type PlistValue } from './types.ts';
import { setEntry } from './binary-decode.ts';

/**
 * An Objective-C object for NSKeyedArchiver, such as MBFile: `$class` names the class,
 * `$classes` its hierarchy (defaults to [$class, 'NSObject']), every other key is a field.
 */
export interface KeyedObject {
  $class: string;
  $classes?: string[];
  [field: string]: PlistValue | KeyedObject | string[] | undefined;
}

/** Alias used by the shared project brief. */
export type ArchivableObject = KeyedObject;

export interface ArchiveOptions {
  /**
   * Fields whose Uint8Array is stored as a bare data object instead of an NSMutableData
   * wrapper. Apple's MBFile stores `Digest` and `ExtendedAttributes` this way and `EncryptionKey` wrapped.
   */
  inlineDataFields?: readonly string[];
}

const NULL_MARKER = '$null';
const DICTIONARY_CLASSES = new Set(['NSDictionary', 'NSMutableDictionary']);
const ARRAY_CLASSES = new Set(['NSArray', 'NSMutableArray', 'NSSet', 'NSMutableSet', 'NSOrderedSet', 'NSMutableOrderedSet']);
const DATA_CLASSES = new Set(['NSData', 'NSMutableData']);
const STRING_CLASSES = new Set(['NSString', 'NSMutableString']);

/**
 * Resolves an NSKeyedArchiver archive (`$top.root` plus `$objects`) into a plain tree: Foundation
 * collections become dicts and arrays, NSData/NSString/NSDate their values, and any other object a
 * dict of its fields plus `$class: "<ClassName>"`. References to `$null` are dropped.
 */
export function unarchive(top: PlistValue): PlistValue {
  if (!isPlistDict(top)) throw new PlistError('not an NSKeyedArchiver archive (expected a dictionary)');
  const objects = top['$objects'];
  const topDict = top['$top'];
  if (!Array.isArray(objects) || !isPlistDict(topDict)) {
    throw new PlistError('not an NSKeyedArchiver archive ($objects or $top missing)');
  }
  const keys = Object.keys(topDict);
  const root = topDict['root'] ?? (keys.length === 1 ? topDict[keys[0]!] : undefined);
  if (!(root instanceof PlistUid)) throw new PlistError('NSKeyedArchiver archive has no root object');
  const value = new Unarchiver(objects).resolve(root, 0);
  if (value === undefined) throw new PlistError('NSKeyedArchiver root object is nil');
  return value;
}

class Unarchiver {
  private readonly cache = new Map<number, PlistValue | undefined>();
  private readonly active = new Set<number>();

  constructor(private readonly objects: PlistValue[]) {}

  resolve(uid: PlistUid, depth: number): PlistValue | undefined {
    const index = uid.value;
    if (this.cache.has(index)) return this.cache.get(index);
    if (index >= this.objects.length) throw new PlistError(`NSKeyedArchiver reference ${index} is out of range`);
    if (this.active.has(index)) throw new PlistError('NSKeyedArchiver archive contains a reference cycle');
    if (depth > MAX_PLIST_DEPTH) throw new PlistError(`NSKeyedArchiver nesting deeper than ${MAX_PLIST_DEPTH} levels`);
    this.active.add(index);
    const value = this.decodeObject(this.objects[index]!, depth);
    this.active.delete(index);
    this.cache.set(index, value);
    return value;
  }

  /** A field value: references are followed, inline scalars kept as they are. */
  private field(value: PlistValue, depth: number): PlistValue | undefined {
    if (value instanceof PlistUid) return this.resolve(value, depth + 1);
    if (Array.isArray(value)) return this.list(value, depth);
    if (isPlistDict(value)) return this.decodeObject(value, depth + 1);
    return value;
  }

  private list(items: PlistValue[], depth: number): PlistValue[] {
    const out: PlistValue[] = [];
    for (const item of items) {
      const v = this.field(item, depth);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  private decodeObject(object: PlistValue, depth: number): PlistValue | undefined {
    if (object === NULL_MARKER) return undefined;
    if (Array.isArray(object)) return this.list(object, depth);
    if (!isPlistDict(object)) return object;
    const classRef = object['$class'];
    if (!(classRef instanceof PlistUid)) {
      const out: PlistDict = {};
      for (const key of Object.keys(object)) {
        const v = this.field(object[key]!, depth);
        if (v !== undefined) setEntry(out, key, v);
      }
      return out;
    }
    const className = this.className(classRef);
    if (DICTIONARY_CLASSES.has(className)) {
      const keys = this.refs(object['NS.keys']);
      const values = this.refs(object['NS.objects']);
      if (keys.length !== values.length) throw new PlistError(`${className} has ${keys.length} keys but ${values.length} values`);
      const out: PlistDict = {};
      for (let i = 0; i < keys.length; i++) {
        const key = this.field(keys[i]!, depth);
        if (typeof key !== 'string') throw new PlistError(`${className} key is not a string`);
        const v = this.field(values[i]!, depth);
        if (v !== undefined) setEntry(out, key, v);
      }
      return out;
    }
    if (ARRAY_CLASSES.has(className)) return this.list(this.refs(object['NS.objects']), depth);
    if (DATA_CLASSES.has(className)) {
      const data = this.field(object['NS.data'] ?? new Uint8Array(0), depth);
      if (!(data instanceof Uint8Array)) throw new PlistError(`${className} has no NS.data bytes`);
      return data;
    }
    if (STRING_CLASSES.has(className)) {
      const s = object['NS.string'] !== undefined ? this.field(object['NS.string'], depth) : undefined;
      if (typeof s === 'string') return s;
      const bytes = object['NS.bytes'];
      if (bytes instanceof Uint8Array) return new TextDecoder().decode(bytes);
      throw new PlistError(`${className} has no NS.string`);
    }
    if (className === 'NSDate') {
      const t = object['NS.time'];
      const seconds = t instanceof PlistReal ? t.value : t;
      if (typeof seconds !== 'number') throw new PlistError('NSDate has no NS.time');
      return new Date(Math.round((seconds + APPLE_EPOCH_OFFSET_SECONDS) * 1000));
    }
    const out: PlistDict = {};
    for (const key of Object.keys(object)) {
      if (key === '$class') continue;
      const v = this.field(object[key]!, depth);
      if (v !== undefined) setEntry(out, key, v);
    }
    out['$class'] = className;
    return out;
  }

  private refs(value: PlistValue | undefined): PlistValue[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new PlistError('NSKeyedArchiver collection is not an array');
    return value;
  }

  private className(ref: PlistUid): string {
    const cls = this.objects[ref.value];
    if (!isPlistDict(cls) || typeof cls['$classname'] !== 'string') {
      throw new PlistError(`NSKeyedArchiver class reference ${ref.value} is not a class`);
    }
    return cls['$classname'];
  }
}

/**
 * Builds an NSKeyedArchiver archive the way Foundation lays one out: `$objects[0]` is `$null`,
 * the root is object 1, each object's fields are archived in order before its class entry.
 * Strings, data, dates, collections and nested objects become references; numbers, booleans
 * and reals stay inline.
 */
export function archive(root: PlistValue | KeyedObject, options: ArchiveOptions = {}): PlistDict {
  const archiver = new Archiver(new Set(options.inlineDataFields ?? []));
  const rootRef = archiver.reference(root, 0);
  return {
    $version: 100000,
    $archiver: 'NSKeyedArchiver',
    $top: { root: rootRef },
    $objects: archiver.objects,
  };
}

class Archiver {
  readonly objects: PlistValue[] = [NULL_MARKER];
  private readonly classes = new Map<string, PlistUid>();
  private readonly strings = new Map<string, PlistUid>();
  private readonly active = new Set<object>();

  constructor(private readonly inlineDataFields: ReadonlySet<string>) {}

  private add(value: PlistValue): PlistUid {
    return new PlistUid(this.objects.push(value) - 1);
  }

  private classRef(name: string, hierarchy?: string[]): PlistUid {
    const known = this.classes.get(name);
    if (known) return known;
    const uid = this.add({ $classname: name, $classes: hierarchy ?? [name, 'NSObject'] });
    this.classes.set(name, uid);
    return uid;
  }

  /** Adds `value` as an object of its own and returns its reference. */
  reference(value: PlistValue | KeyedObject, depth: number): PlistUid {
    if (depth > MAX_PLIST_DEPTH) throw new PlistError(`nesting deeper than ${MAX_PLIST_DEPTH} levels`);
    if (typeof value === 'string') {
      const known = this.strings.get(value);
      if (known) return known;
      const uid = this.add(value);
      this.strings.set(value, uid);
      return uid;
    }
    if (value instanceof Uint8Array) {
      const entry: PlistDict = { 'NS.data': value };
      const uid = this.add(entry);
      entry['$class'] = this.classRef('NSMutableData', ['NSMutableData', 'NSData', 'NSObject']);
      return uid;
    }
    if (value instanceof Date) {
      const entry: PlistDict = { 'NS.time': new PlistReal(value.getTime() / 1000 - APPLE_EPOCH_OFFSET_SECONDS) };
      const uid = this.add(entry);
      entry['$class'] = this.classRef('NSDate');
      return uid;
    }
    if (value instanceof PlistUid) return value;
    if (typeof value !== 'object' || value instanceof PlistReal) return this.add(value);
    if (this.active.has(value)) throw new PlistError('cannot archive an object that contains itself');
    this.active.add(value);
    let uid: PlistUid;
    if (Array.isArray(value)) {
      const entry: PlistDict = {};
      uid = this.add(entry);
      entry['NS.objects'] = value.map((item) => this.reference(item, depth + 1));
      entry['$class'] = this.classRef('NSArray');
    } else if (isKeyedObject(value)) {
      uid = this.keyedObject(value, depth);
    } else {
      const dict = value as PlistDict;
      const entry: PlistDict = {};
      uid = this.add(entry);
      const keys = Object.keys(dict).filter((k) => dict[k] !== undefined);
      entry['NS.keys'] = keys.map((k) => this.reference(k, depth + 1));
      entry['NS.objects'] = keys.map((k) => this.reference(dict[k]!, depth + 1));
      entry['$class'] = this.classRef('NSDictionary');
    }
    this.active.delete(value);
    return uid;
  }

  private keyedObject(value: KeyedObject, depth: number): PlistUid {
    const entry: PlistDict = {};
    const uid = this.add(entry);
    for (const key of Object.keys(value)) {
      if (key === '$class' || key === '$classes') continue;
      const field = value[key];
      if (field === undefined) continue;
      if (field instanceof Uint8Array && this.inlineDataFields.has(key)) {
        setEntry(entry, key, this.add(field));
      } else if (isInline(field)) {
        setEntry(entry, key, field);
      } else {
        setEntry(entry, key, this.reference(field as PlistValue | KeyedObject, depth + 1));
      }
    }
    entry['$class'] = this.classRef(value.$class, value.$classes);
    return uid;
  }
}

function isInline(v: unknown): v is number | bigint | boolean | PlistReal | PlistUid {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || v instanceof PlistReal || v instanceof PlistUid;
}

function isKeyedObject(v: object): v is KeyedObject {
  return typeof (v as { $class?: unknown }).$class === 'string';
}
