// The app defends its origin (issue #10 §3): a whole demo session — connect, trust, back up, every
// Library view and preview, exports, restore — sends no request outside the app's origin, and the
// hostile content the demo phone carries (src/virtual-iphone/dataset/hostile.ts: markup in a message
// and a note, javascript: links, an HTML page and an SVG with script, as files and as message
// attachments) never runs script. A payload that ran would set `__pwned` on its window or its
// opener and request http://lifeboat-hostile.invalid/…; both are watched for, in every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { serveApp, launchChromium, openApp, type AppServer, connectAndTrustDemo, backUpDemo } from './harness.ts';
import { HOSTILE_HOST, HOSTILE_HTML, HOSTILE_MESSAGE_TEXT, HOSTILE_SVG } from '../../src/virtual-iphone/dataset/hostile.ts';

let server: AppServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
/** Every request the context made (pages and workers) whose origin is not the app's. */
const offOrigin: string[] = [];
let requests = 0;
/** The URL the Messages view shows the hostile SVG attachment with. */
let svgUrl = '';

before(async () => {
  server = await serveApp();
  browser = await launchChromium();
  // The route and the request events see the pages', the workers' and the service worker's requests.
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const appOrigin = new URL(server.url).origin;
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests++;
    if (url.startsWith('blob:') || url.startsWith('data:') || new URL(url).origin === appOrigin) return route.continue();
    offOrigin.push(url);
    return route.abort();
  });
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith('blob:') && !url.startsWith('data:') && new URL(url).origin !== appOrigin && !offOrigin.includes(url)) offOrigin.push(url);
  });
  await context.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    // Headless Chromium has no save picker: exports become downloads the test reads.
    w['showSaveFilePicker'] = undefined;
    const violations: string[] = [];
    w['__cspViolations'] = violations;
    window.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  ({ page, errors } = await openApp(context, server.url));
  page.on('dialog', (d) => void d.accept());
});

after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

async function assertNothingRan(where: string): Promise<void> {
  for (const p of context.pages()) {
    for (const frame of p.frames()) {
      const pwned = await frame.evaluate(() => (window as unknown as { __pwned?: string }).__pwned ?? null).catch(() => null);
      assert.equal(pwned, null, `${where}: a hostile payload ran (${pwned}) in ${frame.url()}`);
    }
  }
  assert.deepEqual(offOrigin, [], `${where}: requests left the app's origin`);
}

const cspViolations = (): Promise<string[]> => page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);

test('demo session: connect, trust and back up with the app under its CSP', async () => {
  const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  assert.ok(csp, 'index.html carries a CSP');
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/);
  // Inline script is refused: the policy is in force, not just present.
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = "window.__inline = 'ran'";
    document.head.append(s);
  });
  assert.equal(await page.evaluate(() => (window as unknown as { __inline?: string }).__inline ?? null), null);
  assert.ok((await cspViolations()).some((v) => v.startsWith('script-src')), 'the refusal is reported');
  await page.reload();

  await connectAndTrustDemo(page);
  await backUpDemo(page);
  assert.deepEqual(await cspViolations(), [], 'the app itself needs nothing its CSP refuses');
  await assertNothingRan('connect, trust, back up');
  assert.deepEqual(errors, []);
});

test('Library: every view and preview shows the hostile content as text, never as a page', async () => {
  await page.click('nav button:has-text("Library")');
  const card = page.locator('[data-testid="backup-card"][data-kind="lifeboat"]');
  await card.waitFor({ timeout: 30000 });
  await card.locator('[data-testid="open-backup"]').click();
  await page.waitForSelector('[data-testid="overview-categories"]', { timeout: 30000 });

  // Messages: the markup is the bubble's text; the SVG attachment is a picture (data: URL, not a
  // blob: of this origin); the HTML attachment is a file to save.
  await page.click('[data-testid="tab-messages"]');
  const chats = page.locator('[data-testid="chat-list"] button');
  await chats.first().waitFor({ timeout: 20000 });
  let found = false;
  for (let i = 0; i < (await chats.count()) && !found; i++) {
    await chats.nth(i).click();
    await page.waitForSelector('[data-testid="bubble"]', { timeout: 20000 });
    found = (await page.locator('[data-testid="bubble"]', { hasText: '<img src=x onerror=' }).count()) > 0;
  }
  assert.ok(found, 'the hostile message is listed');
  const bubble = page.locator('[data-testid="bubble"]', { hasText: '<img src=x onerror=' });
  assert.match(await bubble.innerText(), /<script>/, 'markup is shown as the characters it is');
  assert.equal(await bubble.locator('script, [onerror]').count(), 0);
  const svg = bubble.locator('img[alt="drawing.svg"]');
  await svg.waitFor({ timeout: 20000 });
  svgUrl = (await svg.getAttribute('src')) ?? '';
  assert.match(svgUrl, /^data:image\/svg\+xml;base64,/);
  await bubble.locator('.attachment.file:has-text("page.html")').waitFor();
  // Saving the HTML attachment downloads it unchanged; nothing renders it.
  const [attachment] = await Promise.all([page.waitForEvent('download'), bubble.locator('.attachment.file:has-text("page.html") button').click()]);
  assert.deepEqual(new Uint8Array(await readFile((await attachment.path())!)), HOSTILE_HTML);
  // The conversation as HTML: escaped, and it forbids script itself.
  const [saved] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Save as HTML")')]);
  const html = await readFile((await saved.path())!, 'utf8');
  assert.match(html, /&lt;img src=x onerror=/);
  assert.doesNotMatch(html, /<script|<img src=x|onerror="/);
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
  // Opened as a page it runs nothing (and loads nothing).
  const exported = await context.newPage();
  await exported.setContent(html);
  assert.equal(await exported.evaluate(() => (window as unknown as { __pwned?: string }).__pwned ?? null), null);
  await exported.close();
  await assertNothingRan('Messages');

  // Notes: links and markup are text, not anchors.
  await page.click('[data-testid="tab-notes"]');
  await page.click('button:has-text("Links <b>bold</b>")', { timeout: 20000 });
  const body = page.locator('div.body', { hasText: 'javascript:' });
  await body.waitFor({ timeout: 10000 });
  assert.match(await body.innerText(), /<a href="javascript:/);
  assert.equal(await page.locator('a[href^="javascript:"], b:has-text("bold")').count(), 0);
  await assertNothingRan('Notes');

  // Every other category renders.
  for (const tab of ['photos', 'contacts', 'calls', 'safari', 'voice-memos', 'apps']) {
    await page.click(`[data-testid="tab-${tab}"]`);
    // :visible, because the print-only contact table comes first in the panel and is never shown on screen.
    await page.locator('[role="tabpanel"] :is(ul, ol, table, .grid, p):visible').first().waitFor({ timeout: 20000 });
  }
  await page.click('[data-testid="tab-search"]');
  await page.fill('[data-testid="search-input"]', 'onerror');
  await page.waitForSelector('[data-testid="search-messages"]', { timeout: 20000 });
  await assertNothingRan('categories and search');

  // Files: the HTML page and the SVG preview as their source text; every other kind of preview too.
  await page.click('[data-testid="tab-files"]');
  await page.click('button:has-text("AppDomain-com.example.notes")');
  const open = async (...names: string[]) => {
    for (const name of names) await page.click(`[data-testid="file-list"] button:has-text("${name}")`, { timeout: 20000 });
  };
  await open('Documents', 'web', 'cached-page.html');
  await page.waitForSelector('[data-testid="file-preview"] pre:has-text("<script>")', { timeout: 20000 });
  await open('drawing.svg');
  await page.waitForSelector('[data-testid="file-preview"] pre:has-text("<svg")', { timeout: 20000 });
  const [svgFile] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="file-preview"] button:has-text("Export file")')]);
  assert.deepEqual(new Uint8Array(await readFile((await svgFile.path())!)), HOSTILE_SVG);
  await assertNothingRan('file previews of HTML and SVG');
  // The other preview kinds: a plist, a database, a picture, binary data, a folder and a link.
  await page.click('button:has-text("AppDomain-com.example.notes")');
  await open('Library', 'Preferences', 'com.example.notes.plist');
  await page.waitForSelector('[data-testid="file-preview"] pre:has-text("launchCount")', { timeout: 20000 });
  await page.click('button:has-text("AppDomain-com.example.notes")');
  await open('Documents', 'latest-photo');
  await page.waitForSelector('[data-testid="file-preview"] :text("A link to")', { timeout: 20000 });
  await open('sizes', 'exact-512.bin');
  await page.waitForSelector('[data-testid="file-preview"] :text("Binary data")', { timeout: 20000 });
  await page.click('button:has-text("HomeDomain")');
  await open('Library', 'SMS', 'sms.db');
  await page.waitForSelector('[data-testid="file-preview"] table', { timeout: 20000 });
  const tables = await page.locator('[data-testid="file-preview"] select option').allTextContents();
  await page.selectOption('[data-testid="file-preview"] select', { index: tables.findIndex((t) => t.startsWith('message (')) });
  await page.waitForSelector('[data-testid="file-preview"] td:has-text("<img src=x onerror=")', { timeout: 20000 });
  await page.click('button:has-text("CameraRollDomain")');
  await open('Media', 'DCIM', '100APPLE', 'IMG_0001.JPG');
  await page.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>('[data-testid="file-preview"] img');
    return !!img && img.complete && img.naturalWidth > 0;
  });
  // The whole backup as a zip (the export path every file goes through).
  const [zip] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('button:has-text("Export all as .zip")')]);
  assert.ok((await readFile((await zip.path())!)).subarray(0, 2).equals(Buffer.from('PK')));
  await assertNothingRan('previews and exports');
  assert.deepEqual(await cspViolations(), []);
  assert.deepEqual(errors, []);
});

test('restore the backup: still nothing leaves the origin and nothing runs', async () => {
  await page.click('[data-testid="back-to-library"]');
  await page.click('nav button:has-text("Device")');
  await page.waitForSelector('[data-testid="restore-source"]', { timeout: 30000 });
  await page.click('[data-testid="restore-check"]');
  await page.waitForSelector('[data-testid="restore-plan"]', { timeout: 60000 });
  await page.click('[data-testid="restore-now"]');
  const step = await page.waitForSelector('[data-testid="phone-passcode"], [data-testid="restore-done"]', { timeout: 60000 });
  if ((await step.getAttribute('data-testid')) === 'phone-passcode') await page.click('[data-testid="phone-enter-passcode"]');
  await page.waitForSelector('[data-testid="restore-done"]', { timeout: 180000 });
  await assertNothingRan('restore');
  assert.deepEqual(await cspViolations(), []);
  assert.ok(requests > 10, `the route saw the app's own requests (${requests})`);
  assert.deepEqual(errors, []);
});

test('the SVG attachment opened on its own (as “Open image in new tab” would) is not in the app’s origin', async () => {
  // A blob: URL would be: Chromium gives a top-level blob: document of this origin no CSP, so its
  // script would run beside the pairing keys (seen while writing this test). content-url.ts therefore
  // shows SVG through a data: URL, whose document has an opaque origin.
  assert.ok(svgUrl.startsWith('data:'));
  const tab = await context.newPage();
  await tab.goto(svgUrl);
  const where = await tab.evaluate(async () => {
    let storage = 'reachable';
    try {
      await navigator.storage.getDirectory();
    } catch {
      storage = 'refused';
    }
    return { origin: self.origin, storage };
  });
  await tab.close();
  assert.deepEqual(where, { origin: 'null', storage: 'refused' });
  assert.deepEqual(errors, []);
});

test('control: the same payloads, rendered as markup in a page without the CSP, trip both detectors', async () => {
  const control = await context.newPage();
  await control.setContent(`<div>${HOSTILE_MESSAGE_TEXT}</div>`);
  await control.waitForFunction(() => (window as unknown as { __pwned?: string }).__pwned !== undefined, null, { timeout: 10000 });
  await control.waitForTimeout(500);
  await control.close();
  assert.ok(offOrigin.some((url) => url.includes(HOSTILE_HOST)), `the payload's request was seen: ${offOrigin.join(', ')}`);
  offOrigin.length = 0;
});
