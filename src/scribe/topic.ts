/**
 * Topic names and ids.
 *
 * A topic's id is the scoped resource id of its URI: `idFor(uri, scope, { location })`. A topic
 * and a DHT record with the same URI therefore share a root node (the record's primary replica),
 * which keeps e.g. a resource's watchers next to the resource; name topics with a scheme of their
 * own (`topic:…`, `svc:…`) when that is not wanted. REGION and AVAILABILITY_ZONE topics live on
 * nodes of that region / zone, so their trees stay there.
 */
import { Id, Scope, azOf, idFor, regionOf, scopeOf } from '../id/index.ts';
import type { Location } from '../id/index.ts';
import { ScribeError } from './types.ts';
import type { Topic } from './types.ts';

/** The ring id of the topic `uri` in `scope` (`location` is required for REGION and AVAILABILITY_ZONE). */
export function topicId(uri: string, scope: Scope = Scope.GLOBAL, location?: Location): Id {
  try {
    return idFor(uri, scope, { location });
  } catch (err) {
    throw new ScribeError('InvalidTopic', `invalid topic: ${(err as Error).message}`);
  }
}

/** A {@link Topic} for `uri` in `scope`. Throws `InvalidTopic` for a malformed URI or a missing location. */
export function makeTopic(uri: string, scope: Scope = Scope.GLOBAL, location?: Location): Topic {
  return { uri, scope, id: topicId(uri, scope, location) };
}

/** Throws `InvalidTopic` unless `topic` looks like a {@link Topic}. */
export function checkTopic(topic: Topic): void {
  if (typeof topic !== 'object' || topic === null || !(topic.id instanceof Id) || typeof topic.uri !== 'string') {
    throw new ScribeError('InvalidTopic', 'a topic must be { uri, scope, id } as made by makeTopic()');
  }
}

/** Rebuilds a topic from what travels on the wire (uri and id; the scope is in the id's flags). */
export function topicFromWire(uri: string, id: Id): Topic {
  return { uri, scope: scopeOf(id), id };
}

/** The region and zone a scoped topic id lies in (for random ids within the topic's scope). */
export function locationOf(id: Id): Location {
  return { region: regionOf(id), az: azOf(id) };
}
