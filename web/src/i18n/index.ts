import { en, type MessageKey } from './en';
import { ko } from './ko';

export type { MessageKey } from './en';
export type Lang = 'en' | 'ko';
export const LANGS: Record<Lang, Record<MessageKey, string>> = { en, ko };
const STORAGE_KEY = 'meetview.lang';

/** The language to start with: the stored choice, else the browser's, else English. Pure. */
export function detectLang(stored: string | null, navigatorLanguages: readonly string[]): Lang {
  if (stored === 'en' || stored === 'ko') return stored;
  for (const l of navigatorLanguages) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'ko') return 'ko';
    if (base === 'en') return 'en';
  }
  return 'en';
}

/** Replaces `{name}` placeholders; an unknown placeholder stays as written, so a gap is visible. Pure. */
export function format(template: string, vars?: Record<string, string | number>): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // storage disabled by the browser
  }
}

let current: Lang = detectLang(
  storage()?.getItem(STORAGE_KEY) ?? null,
  typeof navigator === 'undefined' ? [] : (navigator.languages ?? [navigator.language]),
);
const listeners = new Set<(lang: Lang) => void>();

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  if (lang === current) return;
  current = lang;
  storage()?.setItem(STORAGE_KEY, lang);
  if (typeof document !== 'undefined') document.documentElement.lang = lang;
  for (const l of listeners) l(lang);
}

export function onLangChange(listener: (lang: Lang) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function t(key: MessageKey, vars?: Record<string, string | number>): string {
  return format(LANGS[current][key] ?? en[key], vars);
}

/** A translated message for an error code, falling back to a generic one for codes we do not know. */
export function errorText(code: string): string {
  const key = `error.${code}` as MessageKey;
  return key in en ? t(key) : t('error.UNKNOWN');
}

/**
 * Fills static markup: `data-i18n` sets the text, `data-i18n-placeholder` the placeholder, and
 * `data-i18n-title` both the tooltip and the accessible name.
 */
export function applyI18n(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n as MessageKey);
  }
  for (const el of root.querySelectorAll<HTMLInputElement>('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder as MessageKey);
  }
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n-title]')) {
    const text = t(el.dataset.i18nTitle as MessageKey);
    el.title = text;
    el.setAttribute('aria-label', text);
  }
}
