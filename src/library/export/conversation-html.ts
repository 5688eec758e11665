import type { BackupReader } from '../backup-reader.ts';
import { readChats, readMessages } from '../categories/messages.ts';
import { encodeBase64 } from '../../plist/base64.ts';

const INLINE_LIMIT = 2 * 1024 * 1024;
/** Raster types only: the type comes from sms.db, and an SVG could carry script. */
const INLINE_IMAGE = /^image\/(jpeg|png|gif|webp|heic|heif)$/;
/**
 * The page is opened from disk, perhaps in a browser where script runs: it needs none, so it allows
 * none, loads nothing from anywhere (inline style, data: images), and escapes all it shows.
 */
const PAGE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One conversation as a standalone HTML page; small images are inlined as data: URLs. */
export async function conversationToHtml(reader: BackupReader, chatId: number): Promise<string> {
  const chat = (await readChats(reader)).find((c) => c.id === chatId);
  const messages = await readMessages(reader, chatId);
  const title = chat?.displayName ?? (chat?.participants.join(', ') || chat?.identifier || `Conversation ${chatId}`);
  const body: string[] = [];
  for (const m of messages) {
    const parts: string[] = [];
    if (m.text) parts.push(`<p>${escapeHtml(m.text).replace(/\n/g, '<br>')}</p>`);
    for (const a of m.attachments) {
      if (a.fileID && INLINE_IMAGE.test(a.mimeType) && a.size <= INLINE_LIMIT) {
        try {
          const bytes = await reader.readFile(a.fileID);
          if (bytes.length <= INLINE_LIMIT) {
            parts.push(`<img alt="${escapeHtml(a.name)}" src="data:${escapeHtml(a.mimeType)};base64,${encodeBase64(bytes)}">`);
            continue;
          }
        } catch {
          // fall through to the placeholder
        }
      }
      parts.push(`<p class="att">📎 ${escapeHtml(a.name)}${a.fileID ? '' : ' (not in this backup)'}</p>`);
    }
    const who = m.isFromMe ? 'Me' : (m.sender ?? 'Unknown');
    body.push(
      `<div class="msg ${m.isFromMe ? 'me' : 'them'}"><div class="meta">${escapeHtml(who)} · ${escapeHtml(m.date ?? '')}</div>${parts.join('')}</div>`,
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}"><title>${escapeHtml(title)}</title>
<style>body{font:15px system-ui,sans-serif;max-width:40em;margin:2em auto}.msg{margin:.5em 0;padding:.5em .8em;border-radius:1em;max-width:75%}
.me{background:#0b84ff;color:#fff;margin-left:auto}.them{background:#e9e9eb}.meta{font-size:.75em;opacity:.7}img{max-width:100%}p{margin:.2em 0}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body.join('\n')}
</body></html>
`;
}
