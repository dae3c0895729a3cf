/**
 * File names as people see them: Unicode kept (Korean, accents, emoji), everything that could steer a
 * path, a terminal or the reading direction removed. The stored name is only ever a label (bytes are
 * stored by SHA-256), but it reaches Content-Disposition and other people's screens.
 */

export const MAX_FILE_NAME_CHARS = 200;

export class FileNameError extends Error {
  override readonly name = 'FileNameError';
}

// C0/C1 controls, DEL, bidi embeddings/overrides/isolates and marks, zero-width characters and BOM,
// line and paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Cleans a client-supplied name: NFC, the last path component only (both `/` and `\`), unsafe
 * characters dropped, Windows-reserved characters replaced, no leading dots, trimmed to a length.
 * Refuses a name that had NUL or bidi controls in it, or that is empty after cleaning.
 */
export function cleanFileName(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new FileNameError('the file needs a name');
  if (raw.length > 4 * MAX_FILE_NAME_CHARS) throw new FileNameError('the file name is too long');
  // A NUL or a bidi override is never an accident: it hides an extension ("gpj.exe" shown as "exe.jpg").
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/.test(raw))
    throw new FileNameError('the file name contains NUL or bidirectional control characters');
  let name = raw.normalize('NFC');
  const parts = name.split(/[/\\]/);
  name = parts[parts.length - 1] ?? '';
  name = name.replace(UNSAFE, '');
  name = name.replace(/[<>:"|?*]/g, '_');
  name = name.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
  if (!name || /^\.+$/.test(name))
    throw new FileNameError('the file name is empty once path parts are removed');
  if ([...name].length > MAX_FILE_NAME_CHARS) {
    const chars = [...name];
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
    name = chars.slice(0, MAX_FILE_NAME_CHARS - [...ext].length).join('') + ext;
  }
  return name;
}

/** The extension of a cleaned name, lower case, without the dot ('' when there is none). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** `Content-Disposition` with an ASCII fallback and the RFC 5987 `filename*` for the real name. */
export function contentDisposition(kind: 'attachment' | 'inline', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
