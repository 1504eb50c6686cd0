/**
 * Minimal Reflect metadata API for `@peculiar/x509`, whose dependency `tsyringe` refuses to load
 * without a "reflect polyfill". tsyringe only calls getMetadata, getOwnMetadata and
 * defineMetadata (class-level, no property keys), so this is all that is provided; it installs
 * nothing if a real polyfill is already present. Import it before `@peculiar/x509`.
 */
type MetadataStore = Map<unknown, unknown>;

interface ReflectMetadata {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

const reflect = Reflect as unknown as ReflectMetadata;

if (typeof reflect.getMetadata !== 'function') {
  const stores = new WeakMap<object, MetadataStore>();
  const own = (key: unknown, target: object): unknown => stores.get(target)?.get(key);
  reflect.getOwnMetadata = own;
  reflect.getMetadata = (key, target) => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const store = stores.get(t);
      if (store?.has(key)) return store.get(key);
    }
    return undefined;
  };
  reflect.defineMetadata = (key, value, target) => {
    let store = stores.get(target);
    if (!store) stores.set(target, (store = new Map()));
    store.set(key, value);
  };
}

export {};
