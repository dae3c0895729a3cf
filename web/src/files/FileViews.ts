import type { FileOfferInfo } from '../../../proto/signaling/messages';
import { errorText, getLang, t } from '../i18n';
import { h } from '../ui/dom';
import { canPreview, type FileTransfer, FileTransferError, formatSize } from './FileTransfer';

function locale(): string {
  return getLang() === 'ko' ? 'ko-KR' : 'en-US';
}

/**
 * One upload in progress: name, a progress bar and a cancel button; it reports a failure in place
 * and removes itself when the file is shared or cancelled.
 */
export class UploadRow {
  readonly el: HTMLElement;
  readonly #bar: HTMLProgressElement;
  readonly #status: HTMLElement;
  readonly #cancel: HTMLButtonElement;
  readonly #abort = new AbortController();

  constructor(
    readonly file: File,
    files: FileTransfer,
    onDone: (row: UploadRow) => void,
  ) {
    this.#bar = h('progress', { max: file.size || 1, value: 0, 'data-testid': 'file-upload-progress' });
    this.#status = h('span', { class: 'file-upload-status' }, t('files.uploading', { name: file.name }));
    this.#cancel = h(
      'button',
      { type: 'button', class: 'file-upload-cancel', 'data-testid': 'file-upload-cancel' },
      t('files.cancel'),
    );
    this.el = h(
      'div',
      { class: 'file-upload', 'data-testid': 'file-upload' },
      this.#status,
      this.#bar,
      this.#cancel,
    );
    this.#cancel.addEventListener('click', () => {
      if (this.#abort.signal.aborted || this.el.dataset.state === 'failed') {
        onDone(this);
        return;
      }
      this.#abort.abort();
    });
    files
      .upload(
        file,
        (p) => {
          this.#bar.value = p.sent;
          this.#status.textContent =
            p.attempt > 1
              ? t('files.retrying', { name: file.name, attempt: p.attempt })
              : t('files.uploading', { name: file.name });
        },
        this.#abort.signal,
      )
      .then(() => onDone(this))
      .catch((err: unknown) => {
        if (err instanceof FileTransferError && err.code === 'CANCELLED') {
          onDone(this);
          return;
        }
        const code = err instanceof FileTransferError ? err.code : 'UNKNOWN';
        const reason = `files.error.${code}` as Parameters<typeof t>[0];
        this.el.dataset.state = 'failed';
        this.el.dataset.code = code;
        this.#status.textContent = t('files.failed', {
          name: file.name,
          reason: hasKey(reason) ? t(reason) : errorText(code),
        });
        this.#bar.hidden = true;
        this.#cancel.textContent = t('files.dismiss');
      });
  }
}

/** Server refusals the client explains in its own words (others fall back to the generic texts). */
const EXPLAINED = new Set([
  'TOO_LARGE',
  'QUOTA_EXCEEDED',
  'RATE_LIMITED',
  'TYPE_REFUSED',
  'TYPE_MISMATCH',
  'ACTIVE_CONTENT',
  'EMPTY',
  'BAD_NAME',
  'NETWORK',
]);

function hasKey(key: string): boolean {
  return EXPLAINED.has(key.slice('files.error.'.length));
}

/**
 * A file offer in the chat: who shared what, its size, a download link and, for a raster image of
 * modest size, a preview. The preview is an <img> of the edge's inline response (sandboxed CSP,
 * nosniff, raster types only), never the file's own markup.
 */
export function renderOffer(
  id: string,
  from: string,
  known: FileOfferInfo | undefined,
  files: FileTransfer,
): HTMLElement {
  const card = h('div', { class: 'file-offer', 'data-testid': 'file-offer', 'data-file-id': id });
  const fill = (f: FileOfferInfo) => {
    const link = h(
      'a',
      {
        class: 'file-download',
        'data-testid': 'file-download',
        href: files.downloadUrl(f.id),
        download: f.name,
        rel: 'noopener',
      },
      t('files.download'),
    );
    const name = h('span', { class: 'file-name', title: f.name }, f.name);
    const size = h('span', { class: 'file-size' }, formatSize(f.size, locale()));
    card.replaceChildren(
      h('div', { class: 'file-who' }, t('files.shared', { name: from })),
      h('div', { class: 'file-line' }, name, size, link),
    );
    if (canPreview(f)) {
      const img = h('img', {
        class: 'file-preview',
        'data-testid': 'file-preview',
        alt: t('files.preview', { name: f.name }),
        src: files.previewUrl(f.id),
        loading: 'lazy',
        referrerpolicy: 'no-referrer',
      });
      img.addEventListener('error', () => img.remove());
      card.append(img);
    }
  };
  if (known) fill(known);
  else {
    card.append(h('div', { class: 'file-who' }, t('files.shared', { name: from })));
    files
      .offer(id)
      .then(fill)
      .catch(() => card.append(h('div', { class: 'file-gone' }, t('files.unavailable'))));
  }
  return card;
}

export const FILE_CSS = `
.chat-attach { flex: none; width: 36px; height: 36px; border-radius: 50%; border: 0; display: grid;
  place-items: center; background: transparent; color: var(--muted); cursor: pointer; font-size: 20px; }
.chat-attach:hover { color: var(--accent); }
.chat.drop-target .chat-scroll { outline: 2px dashed var(--accent); outline-offset: -6px; }
.file-uploads { display: flex; flex-direction: column; gap: 6px; padding: 6px 4px 0; }
.file-upload { display: grid; grid-template-columns: 1fr auto; gap: 4px 8px; font-size: 12px; align-items: center; }
.file-upload progress { grid-column: 1; width: 100%; height: 6px; }
.file-upload-cancel { grid-row: 1 / span 2; grid-column: 2; border: 0; background: var(--surface-2);
  color: var(--text); border-radius: 12px; padding: 4px 10px; cursor: pointer; font-size: 12px; }
.file-upload[data-state="failed"] .file-upload-status { color: var(--danger); }
.file-offer { align-self: center; display: flex; flex-direction: column; gap: 4px; padding: 8px 12px;
  border: 1px solid var(--border); border-radius: 12px; max-width: 92%; font-size: 13px; }
.file-who { color: var(--muted); font-size: 12px; }
.file-line { display: flex; gap: 8px; align-items: baseline; min-width: 0; }
.file-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.file-size { color: var(--muted); flex: none; }
.file-download { color: var(--accent); flex: none; }
.file-preview { max-width: 100%; max-height: 220px; border-radius: 8px; object-fit: contain; }
.file-gone { color: var(--muted); font-style: italic; }
`;
