// The part of the reflect-metadata polyfill that tsyringe (under @peculiar/x509) calls, without the package.
// tsyringe refuses to load when Reflect.getMetadata is missing; hoard declares no decorators, so only tsyringe's
// own bookkeeping goes through these. Imported for its effect, before @peculiar/x509 and nowhere else.

type MetadataMap = Map<unknown, unknown>;
const metadata = new WeakMap<object, MetadataMap>();

interface MetadataReflect {
  getMetadata?: unknown;
}

if (typeof (Reflect as MetadataReflect).getMetadata !== 'function') {
  const own = (target: object): MetadataMap | undefined => metadata.get(target);
  Object.assign(Reflect, {
    defineMetadata(key: unknown, value: unknown, target: object): void {
      let map = own(target);
      if (map === undefined) {
        map = new Map();
        metadata.set(target, map);
      }
      map.set(key, value);
    },
    getOwnMetadata(key: unknown, target: object): unknown {
      return own(target)?.get(key);
    },
    /** Own metadata, else the prototype chain's, as reflect-metadata answers. */
    getMetadata(key: unknown, target: object): unknown {
      for (let at: object | null = target; at !== null; at = Object.getPrototypeOf(at) as object | null) {
        const map = own(at);
        if (map?.has(key) === true) return map.get(key);
      }
      return undefined;
    },
  });
}

export {};
