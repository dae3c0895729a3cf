import { getLang, setLang } from '../i18n';
import { h } from './dom';
import { icon } from './icons';

/** The language toggle (English ⇄ 한국어); its label names the other language. */
export function langButton(className = 'lang-btn'): HTMLButtonElement {
  const btn = h('button', {
    type: 'button',
    class: className,
    'data-testid': 'btn-lang',
    'data-i18n-title': 'lang.switchTitle',
  });
  btn.append(icon('translate'), h('span', { 'data-i18n': 'lang.switch' }));
  btn.addEventListener('click', () => setLang(getLang() === 'en' ? 'ko' : 'en'));
  return btn;
}
