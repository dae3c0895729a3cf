import { t } from '../i18n';
import { h } from './dom';
import { icon } from './icons';
import { avatarColor, initials } from './layout';

export interface TileProps {
  identity: string;
  source: 'camera' | 'screen';
  name: string;
  /** The label under the video ("Ann (you)", "Screen of Ann"). */
  label: string;
  video: MediaStreamTrack | null;
  /** The video is paused or absent: show the avatar instead. */
  videoOff: boolean;
  micMuted: boolean;
  speaking: boolean;
  isSelf: boolean;
}

/** One participant's video (or avatar) with a name label; keeps its <video> across updates. */
export class TileView {
  readonly el: HTMLElement;
  readonly #video: HTMLVideoElement;
  readonly #avatar: HTMLElement;
  readonly #label: HTMLElement;
  readonly #name: HTMLElement;
  readonly #mic: HTMLElement;
  #track: MediaStreamTrack | null = null;

  constructor(identity: string, source: 'camera' | 'screen') {
    this.#video = h('video', { autoplay: true, playsinline: true });
    // Audio plays through the page's audio elements; the tile's video is always silent.
    this.#video.muted = true;
    this.#avatar = h('div', { class: 'avatar avatar-lg' });
    this.#name = h('span', { class: 'tile-name' });
    this.#mic = h('span', { class: 'tile-mic', hidden: true }, icon('micOff'));
    this.#label = h('div', { class: 'tile-label' }, this.#mic, this.#name);
    this.el = h(
      'div',
      {
        class: `tile tile-${source}`,
        'data-testid': 'tile',
        'data-identity': identity,
        'data-source': source,
      },
      this.#video,
      h('div', { class: 'tile-avatar' }, this.#avatar),
      this.#label,
    );
  }

  update(p: TileProps): void {
    if (p.video !== this.#track) {
      this.#track = p.video;
      this.#video.srcObject = p.video ? new MediaStream([p.video]) : null;
      if (p.video) {
        void this.#video.play().catch(() => undefined);
        if (!p.isSelf) this.#markFirstFrame(p.identity, p.source);
      }
    }
    this.el.classList.toggle('video-off', p.videoOff || !p.video);
    this.el.classList.toggle('speaking', p.speaking);
    this.el.classList.toggle('self', p.isSelf);
    this.#video.classList.toggle('mirror', p.isSelf && p.source === 'camera');
    this.#avatar.textContent = initials(p.name);
    this.#avatar.style.background = avatarColor(p.identity);
    this.#name.textContent = p.label;
    this.#mic.hidden = !p.micMuted || p.source === 'screen';
    this.#mic.title = t('meeting.micMuted');
    this.el.title = p.speaking ? `${p.label} · ${t('meeting.speaking')}` : p.label;
  }

  /** A performance mark at the first remote frame painted, for the join-to-first-frame benchmark. */
  #markFirstFrame(identity: string, source: string): void {
    const video = this.#video;
    if (typeof video.requestVideoFrameCallback !== 'function') return;
    video.requestVideoFrameCallback(() => {
      performance.mark('meetview:first-frame', { detail: { identity, source } });
    });
  }

  dispose(): void {
    this.#video.srcObject = null;
    this.el.remove();
  }
}
