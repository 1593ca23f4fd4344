/**
 * The authorization of one pushed step (host-to-host forwarding): the router opens each chained
 * session with a random key (SessionOpen.push_token) and names every push it plans with a tag over
 * the push id, the step id and the position, HMAC-SHA256 under that key, cut to 16 bytes. The host
 * before it in the path carries the tag but cannot make one for any other step, so it cannot inject
 * steps into the next host's session; a replay of a used tag is refused by position (a pushed step
 * must extend the session) and by push id (each runs once).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Bytes of a push tag. */
export const PUSH_TAG_BYTES = 16;

/** The tag of the push `pushId` that the host answers as step `stepId` at `position`. */
export function pushTag(key: Uint8Array, pushId: number, stepId: number, position: number): Buffer {
  return createHmac('sha256', key).update(`swarmpath-push/1\n${pushId}\n${stepId}\n${position}`).digest().subarray(0, PUSH_TAG_BYTES);
}

/** Whether `tag` authorizes that push under `key` (constant time). */
export function pushTagValid(key: Uint8Array, tag: Uint8Array, pushId: number, stepId: number, position: number): boolean {
  const want = pushTag(key, pushId, stepId, position);
  return tag.length === want.length && timingSafeEqual(Buffer.from(tag), want);
}
