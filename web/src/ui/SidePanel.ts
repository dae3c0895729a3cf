import type { ParticipantInfo } from '../../../proto/signaling/messages';
import { applyI18n, t } from '../i18n';
import { h } from './dom';
import { icon } from './icons';
import { avatarColor, initials } from './layout';

export type PanelTab = 'people' | 'chat';

export interface PersonRow {
  identity: string;
  name: string;
  isSelf: boolean;
  micMuted: boolean;
  cameraOff: boolean;
  presenting: boolean;
  speaking: boolean;
  region: string;
}

/** The right-hand panel: the participant list, and the chat tab's place (ChatPanel mounts there). */
export class SidePanel {
  readonly el: HTMLElement;
  /** Where the chat view mounts. */
  readonly chatSlot: HTMLElement;
  readonly #list: HTMLElement;
  readonly #count: HTMLElement;
  readonly #tabs: Record<PanelTab, HTMLButtonElement>;
  readonly #bodies: Record<PanelTab, HTMLElement>;
  #tab: PanelTab = 'people';
  #open = false;

  /** `onChange` runs after the panel opened, closed or switched tab (the chat's unread count depends on it). */
  constructor(
    onClose: () => void,
    readonly onChange: () => void = () => undefined,
  ) {
    this.#count = h('div', { class: 'panel-count' });
    this.#list = h('ul', { class: 'people-list', 'data-testid': 'participant-list' });
    this.chatSlot = h('div', { class: 'chat-slot', 'data-testid': 'chat-panel' });
    const tab = (name: PanelTab) => {
      const b = h('button', {
        type: 'button',
        class: 'panel-tab',
        role: 'tab',
        'data-testid': `panel-tab-${name}`,
        'data-i18n': name === 'people' ? 'panel.people' : 'panel.chat',
      });
      b.addEventListener('click', () => this.show(name));
      return b;
    };
    this.#tabs = { people: tab('people'), chat: tab('chat') };
    this.#bodies = {
      people: h('div', { class: 'panel-body' }, this.#count, this.#list),
      chat: h('div', { class: 'panel-body' }, this.chatSlot),
    };
    const close = h(
      'button',
      { type: 'button', class: 'icon-btn', 'data-i18n-title': 'panel.close' },
      icon('close'),
    );
    close.addEventListener('click', onClose);
    this.el = h(
      'aside',
      { class: 'side-panel', 'data-testid': 'side-panel', hidden: true },
      h(
        'div',
        { class: 'panel-head' },
        h('div', { class: 'panel-tabs', role: 'tablist' }, this.#tabs.people, this.#tabs.chat),
        close,
      ),
      this.#bodies.people,
      this.#bodies.chat,
    );
    this.#apply();
  }

  get open(): boolean {
    return this.#open;
  }
  get tab(): PanelTab {
    return this.#tab;
  }

  show(tab: PanelTab): void {
    this.#tab = tab;
    this.#open = true;
    this.#apply();
    this.onChange();
  }

  hide(): void {
    this.#open = false;
    this.#apply();
    this.onChange();
  }

  #apply(): void {
    this.el.hidden = !this.#open;
    for (const name of ['people', 'chat'] as const) {
      const active = name === this.#tab;
      this.#tabs[name].classList.toggle('active', active);
      this.#tabs[name].setAttribute('aria-selected', String(active));
      this.#bodies[name].hidden = !active;
    }
  }

  render(people: PersonRow[]): void {
    applyI18n(this.el);
    this.#count.textContent = t('panel.inCall', { count: people.length });
    const rows = people.map((p) => {
      const avatar = h('span', { class: 'avatar avatar-sm' }, initials(p.name));
      avatar.style.background = avatarColor(p.identity);
      const status = h('span', { class: 'person-status' });
      if (p.presenting) status.append(icon('screen', 'icon status-icon'));
      status.append(icon(p.micMuted ? 'micOff' : 'mic', `icon status-icon${p.micMuted ? ' off' : ''}`));
      return h(
        'li',
        {
          class: `person${p.speaking ? ' speaking' : ''}`,
          'data-testid': 'participant',
          'data-identity': p.identity,
        },
        avatar,
        h(
          'div',
          { class: 'person-text' },
          h('div', { class: 'person-name' }, p.isSelf ? t('meeting.youSuffix', { name: p.name }) : p.name),
          p.region ? h('div', { class: 'person-meta' }, p.region) : null,
        ),
        status,
      );
    });
    this.#list.replaceChildren(...rows);
  }
}

export function personRow(
  p: ParticipantInfo,
  extra: Omit<PersonRow, 'identity' | 'name' | 'region'>,
): PersonRow {
  return { identity: p.identity, name: p.name, region: p.region, ...extra };
}
