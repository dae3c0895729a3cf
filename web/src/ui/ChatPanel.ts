import { MAX_CHAT_CHARS } from '../../../proto/signaling/messages';
import { FileTransfer, offerIdOf, sessionToken } from '../files/FileTransfer';
import { FILE_CSS, renderOffer, UploadRow } from '../files/FileViews';
import { applyI18n, onLangChange, t } from '../i18n';
import type { ChatEntry, ChatSendError, ChatStore } from '../protocol/ChatStore';
import { h } from './dom';
import { icon } from './icons';
import { formatDateTime, formatTime } from './timeFormat';

/** A piece of a chat text: plain text, or a link that is safe to open. */
export type ChatPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// Only http(s) URLs written out in full; anything else (javascript:, data:, www.…) stays text.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends the sentence rather than the URL.
const TRAILING_RE = /[.,;:!?'")\]}>]+$/;

/** Splits a chat text into text and http(s) links. Pure; never produces any other scheme. */
export function linkify(text: string): ChatPart[] {
  const parts: ChatPart[] = [];
  let last = 0;
  const pushText = (s: string) => {
    if (!s) return;
    const prev = parts[parts.length - 1];
    if (prev?.kind === 'text') prev.text += s;
    else parts.push({ kind: 'text', text: s });
  };
  for (const m of text.matchAll(URL_RE)) {
    let raw = m[0];
    // Keep a closing parenthesis that belongs to the URL (e.g. Wikipedia links).
    const trail = TRAILING_RE.exec(raw)?.[0] ?? '';
    if (trail) raw = raw.slice(0, raw.length - trail.length);
    if (trail.startsWith(')') && raw.includes('(')) raw += ')';
    const start = m.index;
    let href: string | null = null;
    try {
      const url = new URL(raw);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname) href = url.href;
    } catch {
      href = null;
    }
    if (!href) continue;
    pushText(text.slice(last, start));
    parts.push({ kind: 'link', text: raw, href });
    last = start + raw.length;
  }
  pushText(text.slice(last));
  return parts;
}

/** The text of a chat line built from DOM nodes only (text nodes and anchors), never parsed as HTML. */
export function renderChatText(text: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const p of linkify(text)) {
    if (p.kind === 'text') frag.append(document.createTextNode(p.text));
    else {
      const a = document.createElement('a');
      a.href = p.href;
      a.textContent = p.text;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      frag.append(a);
    }
  }
  return frag;
}

export interface ChatPanelOptions {
  /** A send the server refused: the view around shows it (toast). */
  onRefused: (error: ChatSendError) => void;
  /** The file API; by default the page's meeting session's token against this origin. */
  files?: FileTransfer;
}

/**
 * The chat tab: the message list, the input (Enter sends, Shift+Enter is a new line), the length
 * counter. Reads a ChatStore; builds every message with createElement/textContent only.
 */
export class ChatPanel {
  readonly el: HTMLElement;
  readonly #store: ChatStore;
  readonly #list: HTMLElement;
  readonly #empty: HTMLElement;
  readonly #input: HTMLTextAreaElement;
  readonly #sendBtn: HTMLButtonElement;
  readonly #counter: HTMLElement;
  readonly #files: FileTransfer;
  readonly #uploads: HTMLElement;
  readonly #picker: HTMLInputElement;
  /** Message elements by key, with the signature they were built for, so updates touch only what changed. */
  readonly #rows = new Map<string, { sig: string; el: HTMLElement }>();
  readonly #off: (() => void)[] = [];
  #composing = false;

  constructor(store: ChatStore, opts: ChatPanelOptions) {
    ensureStyle();
    this.#store = store;
    this.#list = h('ol', { class: 'chat-list', 'data-testid': 'chat-list', 'aria-live': 'polite' });
    this.#empty = h(
      'div',
      { class: 'chat-empty' },
      icon('chat', 'icon empty-icon'),
      h('p', { 'data-i18n': 'chat.empty' }),
      h('p', { class: 'muted', 'data-i18n': 'chat.emptyHint' }),
    );
    this.#input = h('textarea', {
      class: 'chat-input',
      'data-testid': 'chat-input',
      rows: 1,
      'data-i18n-placeholder': 'chat.placeholder',
      'data-i18n-title': 'chat.inputLabel',
    });
    this.#sendBtn = h(
      'button',
      { type: 'button', class: 'chat-send', 'data-testid': 'chat-send', 'data-i18n-title': 'chat.send' },
      sendIcon(),
    );
    this.#counter = h('div', { class: 'chat-counter', 'data-testid': 'chat-counter', 'aria-live': 'polite' });
    this.#files = opts.files ?? new FileTransfer(sessionToken);
    this.#uploads = h('div', { class: 'file-uploads', 'data-testid': 'file-uploads', 'aria-live': 'polite' });
    this.#picker = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input' });
    const attach = h(
      'button',
      {
        type: 'button',
        class: 'chat-attach',
        'data-testid': 'file-attach',
        'data-i18n-title': 'files.attach',
      },
      '📎',
    );
    attach.addEventListener('click', () => this.#picker.click());
    this.#picker.addEventListener('change', () => {
      this.#share([...(this.#picker.files ?? [])]);
      this.#picker.value = '';
    });

    this.#input.addEventListener('compositionstart', () => {
      this.#composing = true;
    });
    this.#input.addEventListener('compositionend', () => {
      this.#composing = false;
    });
    this.#input.addEventListener('keydown', (e) => {
      // Enter that confirms a Korean (IME) composition must not send the half-typed message.
      if (e.key !== 'Enter' || e.shiftKey || e.isComposing || this.#composing || e.keyCode === 229) return;
      e.preventDefault();
      this.#submit();
    });
    this.#input.addEventListener('input', () => this.#renderInput());
    this.#sendBtn.addEventListener('click', () => this.#submit());

    this.el = h(
      'section',
      { class: 'chat' },
      h('div', { class: 'chat-scroll' }, this.#empty, this.#list),
      h(
        'div',
        { class: 'chat-compose' },
        this.#uploads,
        h('div', { class: 'chat-field' }, attach, this.#picker, this.#input, this.#sendBtn),
        this.#counter,
      ),
    );
    // Files dropped anywhere on the chat are shared.
    this.el.addEventListener('dragover', (e) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      this.el.classList.add('drop-target');
    });
    this.el.addEventListener('dragleave', (e) => {
      if (e.target === this.el || !this.el.contains(e.relatedTarget as Node | null))
        this.el.classList.remove('drop-target');
    });
    this.el.addEventListener('drop', (e) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      this.el.classList.remove('drop-target');
      this.#share([...e.dataTransfer.files]);
    });

    this.#off.push(
      store.on('changed', () => this.#renderList()),
      store.on('refused', (err) => {
        // Give the text back unless the user already typed something else.
        if (!this.#input.value) {
          this.#input.value = err.text;
          this.#renderInput();
        }
        opts.onRefused(err);
      }),
      onLangChange(() => {
        this.#rows.clear();
        this.render();
      }),
    );
    this.render();
  }

  /** The input, for focusing when the tab opens. */
  focus(): void {
    this.#input.focus();
  }

  render(): void {
    applyI18n(this.el);
    this.#renderInput();
    this.#renderList();
  }

  dispose(): void {
    for (const off of this.#off.splice(0)) off();
    this.el.remove();
  }

  /** Shares files (from the picker or a drop): one upload row each, in parallel. */
  #share(files: File[]): void {
    for (const file of files) {
      const row = new UploadRow(file, this.#files, (done) => done.el.remove());
      this.#uploads.append(row.el);
    }
  }

  #submit(): void {
    const text = this.#input.value;
    if (text.trim().length === 0 || text.length > MAX_CHAT_CHARS) {
      // Over the limit: the counter already says so; sending would only be refused.
      this.#renderInput();
      return;
    }
    this.#input.value = '';
    this.#renderInput();
    void this.#store.send(text);
  }

  #renderInput(): void {
    const n = this.#input.value.length;
    const over = n > MAX_CHAT_CHARS;
    this.#sendBtn.disabled = this.#input.value.trim().length === 0 || over;
    this.#input.classList.toggle('over', over);
    this.#input.setAttribute('aria-invalid', String(over));
    this.#counter.classList.toggle('over', over);
    // The counter appears near the limit, so the usual short message has a quiet box.
    this.#counter.hidden = n < MAX_CHAT_CHARS * 0.9;
    this.#counter.textContent = over
      ? t('chat.tooLong', { count: n - MAX_CHAT_CHARS, max: MAX_CHAT_CHARS })
      : t('chat.count', { count: n, max: MAX_CHAT_CHARS });
    // Grow with the text up to a few lines.
    this.#input.style.height = 'auto';
    this.#input.style.height = `${Math.min(this.#input.scrollHeight, 140)}px`;
  }

  #renderList(): void {
    const scroller = this.#list.parentElement;
    const atBottom = !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const entries = this.#store.messages;
    this.#empty.hidden = entries.length > 0;
    const seen = new Set<string>();
    const rows: HTMLElement[] = [];
    for (const e of entries) {
      const key = e.messageId ?? `c:${e.clientMessageId}`;
      const sig = `${e.state}|${e.own}|${e.messageId}|${e.from.name}|${e.ts}`;
      seen.add(key);
      let row = this.#rows.get(key);
      if (!row || row.sig !== sig) {
        row = { sig, el: this.#row(e) };
        this.#rows.set(key, row);
      }
      rows.push(row.el);
    }
    for (const k of [...this.#rows.keys()]) if (!seen.has(k)) this.#rows.delete(k);
    // Keep nodes in place when the order is unchanged (the common case: one appended line).
    const current = this.#list.children;
    let same = current.length <= rows.length;
    for (let i = 0; same && i < current.length; i++) same = current[i] === rows[i];
    if (same) for (let i = current.length; i < rows.length; i++) this.#list.append(rows[i]!);
    else this.#list.replaceChildren(...rows);
    if (atBottom && scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  #row(e: ChatEntry): HTMLElement {
    const attrs = {
      'data-testid': 'chat-message',
      'data-message-id': e.messageId ?? '',
      'data-kind': e.kind,
      'data-state': e.state,
    };
    const date = new Date(e.ts);
    const time = h('time', { datetime: date.toISOString(), title: formatDateTime(date) });
    time.textContent = formatTime(date);
    const fileId = offerIdOf(e);
    if (e.kind === 'system' && fileId) {
      return h(
        'li',
        { ...attrs, class: 'chat-system chat-file' },
        renderOffer(fileId, e.from.name, e.file, this.#files),
        time,
      );
    }
    if (e.kind === 'system') {
      const text =
        e.text === 'joined'
          ? t('chat.joined', { name: e.from.name })
          : e.text === 'left'
            ? t('chat.left', { name: e.from.name })
            : `${e.from.name}: ${e.text}`;
      return h('li', { ...attrs, class: 'chat-system' }, h('span', {}, text), time);
    }
    const body = h('div', { class: 'chat-text' });
    body.append(renderChatText(e.text));
    const meta = h(
      'div',
      { class: 'chat-meta' },
      h('span', { class: 'chat-name' }, e.own ? t('chat.you') : e.from.name),
      e.to ? h('span', { class: 'chat-private' }, t('chat.private')) : null,
      e.state === 'pending' ? h('span', { class: 'chat-pending' }, t('chat.sending')) : time,
    );
    return h('li', { ...attrs, class: `chat-msg${e.own ? ' own' : ''}` }, meta, body);
  }
}

/** The unread badge for the chat button: hidden at zero. */
export function renderUnreadBadge(badge: HTMLElement, count: number): void {
  badge.hidden = count === 0;
  badge.textContent = count > 99 ? '99+' : String(count);
  badge.setAttribute('aria-label', t('chat.unread', { count }));
}

// Material "send"; kept here because icons.ts belongs to the meeting view.
function sendIcon(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M2.01 21L23 12 2.01 3 2 10l15 2-15 2z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

const STYLE_ID = 'meetview-chat-style';
// The chat's own rules travel with it (a static sheet: no message text ever goes in here).
const CSS = `
.chat { flex: 1; display: flex; flex-direction: column; min-height: 0; }
.chat-scroll { flex: 1; overflow-y: auto; padding: 8px 4px; min-height: 0; }
.chat-empty { margin: 40px auto; padding: 12px; text-align: center; }
.chat-empty p { margin: 6px 0; font-size: 14px; }
.chat-list { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 10px; }
.chat-msg { display: flex; flex-direction: column; gap: 3px; max-width: 92%; align-self: flex-start; }
.chat-msg.own { align-self: flex-end; align-items: flex-end; }
.chat-meta { display: flex; gap: 8px; align-items: baseline; font-size: 12px; color: var(--muted); }
.chat-name { font-weight: 600; color: var(--text); }
.chat-private { color: var(--warn); }
.chat-pending { font-style: italic; }
.chat-text { padding: 8px 12px; border-radius: 14px 14px 14px 4px; background: var(--surface-2);
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14px; line-height: 1.4; }
.chat-msg.own .chat-text { background: var(--primary-2); color: #fff; border-radius: 14px 14px 4px 14px; }
.chat-msg[data-state="pending"] .chat-text { opacity: 0.6; }
.chat-text a { color: var(--accent); text-decoration: underline; }
.chat-msg.own .chat-text a { color: #fff; }
.chat-system { align-self: center; display: flex; gap: 8px; font-size: 12px; color: var(--muted); }
.chat-compose { padding: 8px 0 4px; border-top: 1px solid var(--border); }
.chat-field { display: flex; gap: 6px; align-items: flex-end; padding: 4px 4px 4px 12px;
  border-radius: 22px; background: var(--surface-2); }
.chat-input { flex: 1; resize: none; border: 0; outline: none; background: transparent; color: var(--text);
  font: inherit; font-size: 14px; line-height: 1.4; padding: 8px 0; max-height: 140px; }
.chat-input.over { color: var(--danger); }
.chat-send { flex: none; width: 36px; height: 36px; border-radius: 50%; border: 0; display: grid;
  place-items: center; background: transparent; color: var(--accent); cursor: pointer; }
.chat-send:disabled { color: var(--surface-3); cursor: default; }
.chat-send .icon { width: 20px; height: 20px; fill: currentColor; }
.chat-counter { padding: 4px 12px 0; font-size: 12px; color: var(--muted); text-align: right; }
.chat-counter.over { color: var(--danger); }
.badge.chat-badge { background: var(--primary); color: #fff; }
`;

function ensureStyle(): void {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement('style');
  style.id = STYLE_ID;
  style.textContent = CSS + FILE_CSS;
  document.head.append(style);
}
