/**
 * The path the load and failover scenarios run on: the path most prompts of loadtest/scenarios.json
 * route to, and those prompts (so that every request of the run uses the bench swarm's experts).
 */
import type { Manifest } from '../shared/manifest.ts';
import { choosePath } from '../shared/model/path-choice.ts';

export function benchPath(manifest: Manifest, prompts: readonly string[]): { path: string[]; prompts: string[] } {
  const enc = new TextEncoder();
  const byPath = new Map<string, string[]>();
  for (const p of prompts) {
    const key = choosePath(manifest.router, enc.encode(p)).path.join(',');
    byPath.set(key, [...(byPath.get(key) ?? []), p]);
  }
  const [key, mine] = [...byPath.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0];
  return { path: key.split(','), prompts: mine };
}
