/**
 * The entity registry: which entity types exist, which URI schemes name them, and how to check
 * an entity before it is written. Validation runs on the writing node, before anything leaves it.
 */
import { InvalidEntityError } from './errors.ts';
import type { Entity } from './types.ts';

/**
 * Checks an entity of one type. Return nothing (or true) to accept it; return a string (the
 * reason) or false, or throw, to refuse it.
 */
export type EntityValidator = (entity: Entity) => void | boolean | string;

/** How one entity type is registered. */
export interface EntityTypeDefinition {
  /** URI schemes whose resources are of this type (e.g. `counter` for `counter:a`). */
  schemes?: readonly string[];
  validate?: EntityValidator;
}

/** Maps entity types and URI schemes to validators. */
export class EntityRegistry {
  private readonly types = new Map<string, EntityTypeDefinition>();
  private readonly schemes = new Map<string, string>();

  /**
   * @param strict refuse entities whose type is not registered (default false: they pass
   *   unchecked, so that nodes running an older application version still store newer types).
   */
  constructor(readonly strict = false) {}

  /** Registers `type`; registering a type or scheme twice replaces the earlier definition. */
  register(type: string, definition: EntityTypeDefinition = {}): this {
    if (typeof type !== 'string' || type.length === 0) throw new InvalidEntityError('entity type must be a non-empty string');
    this.types.set(type, definition);
    for (const scheme of definition.schemes ?? []) this.schemes.set(scheme.toLowerCase(), type);
    return this;
  }

  has(type: string): boolean {
    return this.types.has(type);
  }

  /** The type named by a URI's scheme, if registered. */
  typeOfUri(uri: string): string | undefined {
    const colon = uri.indexOf(':');
    return colon > 0 ? this.schemes.get(uri.slice(0, colon).toLowerCase()) : undefined;
  }

  /**
   * The entity's type: its `type` field, else the type registered for its URI's scheme, else
   * the scheme itself. Undefined when neither is present.
   */
  typeOf(entity: Entity): string | undefined {
    if (typeof entity.type === 'string') return entity.type;
    if (typeof entity.url !== 'string') return undefined;
    const registered = this.typeOfUri(entity.url);
    if (registered) return registered;
    const colon = entity.url.indexOf(':');
    return colon > 0 ? entity.url.slice(0, colon).toLowerCase() : undefined;
  }

  /** Throws {@link InvalidEntityError} when the entity's type refuses it. */
  validate(entity: Entity): void {
    const type = this.typeOf(entity);
    const def = type === undefined ? undefined : this.types.get(type);
    if (!def) {
      if (this.strict) throw new InvalidEntityError(`unknown entity type ${type === undefined ? '(none: set type or url)' : `"${type}"`}`);
      return;
    }
    if (entity.url !== undefined && def.schemes && def.schemes.length > 0) {
      const scheme = entity.url.slice(0, Math.max(0, entity.url.indexOf(':'))).toLowerCase();
      if (!def.schemes.some((s) => s.toLowerCase() === scheme)) throw new InvalidEntityError(`entity of type "${type}" must have a URI with scheme ${def.schemes.join(' or ')}, got "${entity.url}"`);
    }
    if (!def.validate) return;
    let verdict: void | boolean | string;
    try {
      verdict = def.validate(entity);
    } catch (err) {
      throw new InvalidEntityError(`invalid ${type}: ${(err as Error).message}`);
    }
    if (verdict === false) throw new InvalidEntityError(`invalid ${type}`);
    if (typeof verdict === 'string') throw new InvalidEntityError(`invalid ${type}: ${verdict}`);
  }
}
