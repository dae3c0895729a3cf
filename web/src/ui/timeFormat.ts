import { getLang } from '../i18n';

/**
 * Date and time formatters for the UI's language, made once per locale. Making an Intl formatter is
 * slow (the locale's data is loaded on the first one: tens of ms), so a meeting view must not make one
 * per message, and the prejoin warms them up (warmUpTimeFormats) before the click needs them.
 */
const cache = new Map<string, Intl.DateTimeFormat>();

function formatter(locale: string, kind: 'time' | 'clock' | 'full'): Intl.DateTimeFormat {
  const key = `${locale}|${kind}`;
  let f = cache.get(key);
  if (!f) {
    const options: Intl.DateTimeFormatOptions =
      kind === 'time'
        ? { hour: 'numeric', minute: '2-digit' }
        : kind === 'clock'
          ? { hour: '2-digit', minute: '2-digit' }
          : { dateStyle: 'medium', timeStyle: 'medium' };
    f = new Intl.DateTimeFormat(locale, options);
    cache.set(key, f);
  }
  return f;
}

/** The locale times read in: the UI's language; an English UI follows the browser's English variant. */
export function timeLocale(): string {
  if (getLang() === 'ko') return 'ko-KR';
  const nav = typeof navigator === 'undefined' ? 'en-US' : navigator.language;
  return nav?.toLowerCase().startsWith('en') ? nav : 'en-US';
}

/** "3:07 PM" / "오후 3:07": a chat message's time. */
export function formatTime(date: Date): string {
  return formatter(timeLocale(), 'time').format(date);
}

/** "03:07 PM": the meeting's clock. */
export function formatClock(date: Date): string {
  return formatter(timeLocale(), 'clock').format(date);
}

/** Date and time in full: a chat message's tooltip. */
export function formatDateTime(date: Date): string {
  return formatter(timeLocale(), 'full').format(date);
}

/** Makes the current language's formatters now (call when the page is idle). */
export function warmUpTimeFormats(): void {
  const now = new Date();
  formatTime(now);
  formatClock(now);
  formatDateTime(now);
}
