/**
 * Worker thread of `evaluatePackage`: loads the package itself, scores the documents it is given and
 * posts their scores back (a `progress` message per document, then `done`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scoreDocs } from './eval.ts';
import type { HeldoutDoc } from './eval.ts';
import { loadPackage } from './package.ts';

const { dir, docs, indices, threads, rerouteEvery } = workerData as { dir: string; docs: HeldoutDoc[]; indices: number[]; threads: number; rerouteEvery: number };
const pkg = await loadPackage(dir);
const scores = await scoreDocs(pkg, docs, indices, threads, () => parentPort!.postMessage({ type: 'progress' }), rerouteEvery);
parentPort!.postMessage({ type: 'done', scores });
