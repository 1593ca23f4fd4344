/**
 * The dashboard in a real browser (Debian's headless Chromium driven by playwright-core), watched
 * for what must never happen on it: console errors, uncaught page errors, failed requests, HTTP
 * errors, and requests that leave the router's origin.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The little of the DOM that the functions run in the page use (this project's tsconfig has no DOM lib). */
interface PageGlobals {
  document: { querySelectorAll(selector: string): Iterable<{ getAttribute(name: string): string | null }> };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  page: Page;
  /** Every console error, page error, failed request and HTTP status >= 400, in order. */
  problems: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** The Authorization header of each request for `path` (undefined: none). */
  authorizations(path: string): (string | undefined)[];
}

/** Opens `url` in a new page of `browser` (viewport `size`), recording from before the first request. */
export async function openWatched(browser: Browser, url: string, size = { width: 1400, height: 1000 }): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport: size });
  const problems: string[] = [];
  const requests: string[] = [];
  const auth: { path: string; value: string | undefined }[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });
  page.on('request', (r) => {
    requests.push(r.url());
    auth.push({ path: new URL(r.url()).pathname, value: r.headers().authorization });
  });
  await page.goto(url);
  return {
    page, problems, requests,
    authorizations: (path) => auth.filter((a) => a.path === path).map((a) => a.value),
  };
}

/** The integer a `[data-figure=name]` element shows (thousands separators allowed). */
export async function figure(page: Page, name: string): Promise<number> {
  const text = await page.locator(`[data-figure="${name}"]`).textContent();
  return Number((text ?? '').replaceAll(',', ''));
}

/**
 * Waits (the browser's own polling) until the page shows every expert of `experts` (id → peer ids
 * of its live replicas, sorted) with exactly those replicas.
 */
export async function waitForExperts(page: Page, experts: Record<string, string[]>, timeoutMs = 60_000): Promise<void> {
  await page.waitForFunction((want) => Object.entries(want).every(([id, peers]) => {
    const rows = [...(globalThis as unknown as PageGlobals).document.querySelectorAll(`[data-expert="${id}"] tbody tr`)].map((r) => r.getAttribute('data-peer')).sort();
    return JSON.stringify(rows) === JSON.stringify(peers);
  }), experts, { timeout: timeoutMs, polling: 100 });
}
