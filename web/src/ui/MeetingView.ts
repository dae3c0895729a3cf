import { applyI18n, errorText, type MessageKey, onLangChange, t } from '../i18n';
import type { MeetingSession, Notice, RemoteTrack } from '../protocol/MeetingSession';
import type { CloseInfo } from '../protocol/SignalingClient';
import { roomPath } from '../route';
import { ChatPanel, renderUnreadBadge } from './ChatPanel';
import { h, setAttr } from './dom';
import { type IconName, icon } from './icons';
import { langButton } from './LangButton';
import { gridLayout, spatialLayerFor } from './layout';
import { type PersonRow, SidePanel } from './SidePanel';
import { type TileProps, TileView } from './TileView';
import { formatClock } from './timeFormat';

export interface MeetingViewOptions {
  room: string;
  name: string;
  onRejoin: () => void;
  onHome: () => void;
}

const GAP = 10;

/** The meeting screen: stage and grid of tiles, control bar, side panel, banners. Reads a MeetingSession. */
export class MeetingView {
  readonly el: HTMLElement;
  readonly #session: MeetingSession;
  readonly #opts: MeetingViewOptions;
  readonly #tiles = new Map<string, TileView>();
  readonly #audio = new Map<string, HTMLAudioElement>();
  readonly #audioSink: HTMLElement;
  readonly #stageArea: HTMLElement;
  readonly #stage: HTMLElement;
  readonly #stageLabel: HTMLElement;
  readonly #grid: HTMLElement;
  readonly #banner: HTMLElement;
  readonly #notices: HTMLElement;
  readonly #alone: HTMLElement;
  readonly #panel: SidePanel;
  readonly #chat: ChatPanel;
  readonly #chatBadge: HTMLElement;
  readonly #clock: HTMLElement;
  readonly #roomLabel: HTMLElement;
  readonly #btn: Record<'mic' | 'cam' | 'screen' | 'leave' | 'participants' | 'chat', HTMLButtonElement>;
  readonly #peopleBadge: HTMLElement;
  readonly #ended: HTMLElement;
  readonly #resize: ResizeObserver;
  readonly #off: (() => void)[] = [];
  readonly #clockTimer: ReturnType<typeof setInterval>;
  #viewerNotice: Notice | null = null;
  #endedInfo: CloseInfo | null = null;
  #busy = new Set<string>();
  #raf = 0;

  constructor(session: MeetingSession, opts: MeetingViewOptions) {
    this.#session = session;
    this.#opts = opts;
    this.#banner = h('div', {
      class: 'conn-banner',
      'data-testid': 'conn-state',
      role: 'status',
      'aria-live': 'polite',
    });
    this.#notices = h('div', { class: 'notices', 'aria-live': 'assertive' });
    this.#stageLabel = h('div', { class: 'stage-label' });
    this.#stage = h('div', { class: 'stage', 'data-testid': 'stage' }, this.#stageLabel);
    this.#grid = h('div', { class: 'grid', 'data-testid': 'grid' });
    this.#stageArea = h('main', { class: 'stage-area' }, this.#stage, this.#grid);
    this.#audioSink = h('div', { class: 'audio-sink', hidden: true });
    this.#panel = new SidePanel(
      () => {
        this.#panel.hide();
        this.#render();
      },
      () => this.#chatVisibility(),
    );
    this.#chat = new ChatPanel(session.chat, {
      onRefused: (err) =>
        this.#toast(
          { code: err.code, message: `${err.code}: ${err.message}` },
          `${t('chat.notSent')} ${errorText(err.code)}`,
          'error',
        ),
    });
    this.#panel.chatSlot.replaceChildren(this.#chat.el);
    this.#chatBadge = h('span', { class: 'badge chat-badge', 'data-testid': 'chat-unread', hidden: true });

    const copy = h(
      'button',
      { type: 'button', class: 'btn-secondary', 'data-testid': 'btn-copy-link' },
      icon('link'),
      h('span', { 'data-i18n': 'meeting.copyLink' }),
    );
    copy.addEventListener('click', () => {
      const url = `${location.origin}${roomPath(this.#opts.room)}`;
      void navigator.clipboard
        ?.writeText(url)
        .then(() => this.#toast({ code: 'COPIED', message: '' }, t('meeting.linkCopied'), 'info'))
        .catch(() => undefined);
    });
    this.#alone = h(
      'div',
      { class: 'alone-card', hidden: true },
      h('h2', { 'data-i18n': 'meeting.alone' }),
      h('p', { 'data-i18n': 'meeting.aloneHint' }),
      h('div', { class: 'link-box' }, h('code', {}, `${location.host}${roomPath(opts.room)}`)),
      copy,
    );

    const ctl = (id: string, cls = 'ctl-btn') =>
      h('button', { type: 'button', class: cls, 'data-testid': id });
    this.#btn = {
      mic: ctl('btn-mic'),
      cam: ctl('btn-cam'),
      screen: ctl('btn-screen'),
      leave: ctl('btn-leave', 'ctl-btn leave'),
      participants: ctl('btn-participants', 'ctl-btn ghost'),
      chat: ctl('btn-chat', 'ctl-btn ghost'),
    };
    this.#peopleBadge = h('span', { class: 'badge' });
    this.#btn.mic.addEventListener('click', () =>
      this.#act('mic', () => session.setMicrophoneEnabled(!session.microphoneOn)),
    );
    this.#btn.cam.addEventListener('click', () =>
      this.#act('cam', () => session.setCameraEnabled(!session.cameraOn)),
    );
    this.#btn.screen.addEventListener('click', () =>
      this.#act('screen', async () =>
        session.screenOn ? session.stopScreenShare() : session.startScreenShare(),
      ),
    );
    this.#btn.leave.addEventListener('click', () => this.#act('leave', () => session.leave()));
    this.#btn.participants.addEventListener('click', () => this.#togglePanel('people'));
    this.#btn.chat.addEventListener('click', () => this.#togglePanel('chat'));

    this.#clock = h('span', { class: 'clock' });
    this.#roomLabel = h('span', { class: 'room-name', 'data-testid': 'room-name' }, opts.room);
    this.#ended = h('div', { class: 'ended', hidden: true });

    this.el = h(
      'div',
      { class: 'meeting' },
      this.#banner,
      this.#notices,
      h('div', { class: 'meeting-body' }, this.#stageArea, this.#panel.el),
      this.#alone,
      h(
        'footer',
        { class: 'control-bar' },
        h('div', { class: 'bar-left' }, this.#clock, h('span', { class: 'sep' }, '|'), this.#roomLabel),
        h('div', { class: 'bar-center' }, this.#btn.mic, this.#btn.cam, this.#btn.screen, this.#btn.leave),
        h(
          'div',
          { class: 'bar-right' },
          this.#btn.participants,
          this.#btn.chat,
          langButton('ctl-btn ghost lang'),
        ),
      ),
      this.#audioSink,
      this.#ended,
    );

    this.#resize = new ResizeObserver(() => this.#layout());
    this.#resize.observe(this.#grid);
    this.#resize.observe(this.#stageArea);
    this.#clockTimer = setInterval(() => this.#tickClock(), 10_000);
    this.#off.push(
      session.on('changed', () => this.#schedule()),
      session.on('state', () => this.#schedule()),
      session.on('connection', () => this.#schedule()),
      session.on('activeSpeaker', () => this.#schedule()),
      session.on('notice', (n) => this.#onNotice(n)),
      session.on('closed', (info) => this.#showEnded(info)),
      session.chat.on('unread', (n) => renderUnreadBadge(this.#chatBadge, n)),
      onLangChange(() => {
        this.#render();
        // The ended card's messages are composed, not data-i18n: compose them again.
        if (this.#endedInfo) this.#showEnded(this.#endedInfo);
      }),
    );
    this.#render();
  }

  /** The panel's chat area, for the chat view to mount into. */
  get chatSlot(): HTMLElement {
    return this.#panel.chatSlot;
  }

  dispose(): void {
    for (const off of this.#off.splice(0)) off();
    this.#chat.dispose();
    this.#resize.disconnect();
    clearInterval(this.#clockTimer);
    cancelAnimationFrame(this.#raf);
    for (const tile of this.#tiles.values()) tile.dispose();
    for (const a of this.#audio.values()) a.srcObject = null;
    this.el.remove();
  }

  #schedule(): void {
    // Many events arrive together (a join snapshot); render once per frame.
    if (this.#raf) return;
    this.#raf = requestAnimationFrame(() => {
      this.#raf = 0;
      this.#render();
    });
  }

  #act(key: string, fn: () => Promise<void> | void): void {
    if (this.#busy.has(key)) return;
    this.#busy.add(key);
    this.#render();
    Promise.resolve()
      .then(fn)
      .catch((e) => console.error(e))
      .finally(() => {
        this.#busy.delete(key);
        this.#render();
      });
  }

  #togglePanel(tab: 'people' | 'chat'): void {
    if (this.#panel.open && this.#panel.tab === tab) this.#panel.hide();
    else this.#panel.show(tab);
    this.#render();
    if (this.#panel.open && this.#panel.tab === 'chat') this.#chat.focus();
  }

  /** Messages count as unread while the chat tab is not on screen. */
  #chatVisibility(): void {
    this.#session.chat.setVisible(this.#panel.open && this.#panel.tab === 'chat');
  }

  #render(): void {
    const s = this.#session;
    applyI18n(this.el);
    this.#tickClock();
    const selfId = s.self?.identity ?? 'self';
    const selfName = s.self?.name ?? this.#opts.name;
    const speaker = s.activeSpeaker;

    // Tiles: me first, then everyone else in join order; screens go to the stage.
    const cams: TileProps[] = [];
    const screens: TileProps[] = [];
    const camTrack = s.localTrack('camera');
    cams.push({
      identity: selfId,
      source: 'camera',
      name: selfName,
      label: t('meeting.youSuffix', { name: selfName }),
      video: camTrack,
      videoOff: !camTrack,
      micMuted: !s.microphoneOn,
      speaking: speaker === selfId,
      isSelf: true,
    });
    const myScreen = s.localTrack('screen');
    if (myScreen) {
      screens.push({
        identity: selfId,
        source: 'screen',
        name: selfName,
        label: t('meeting.youPresenting'),
        video: myScreen,
        videoOff: false,
        micMuted: false,
        speaking: false,
        isSelf: true,
      });
    }
    const byIdentity = new Map<string, RemoteTrack[]>();
    for (const r of s.remoteTracks) {
      const list = byIdentity.get(r.identity) ?? [];
      list.push(r);
      byIdentity.set(r.identity, list);
    }
    const people = [...s.participants].sort((a, b) => a.joinedAt - b.joinedAt);
    const known = new Set(people.map((p) => p.identity));
    // A track can arrive before its owner's participant.joined: show it anyway.
    for (const id of byIdentity.keys()) {
      if (!known.has(id) && id !== selfId)
        people.push({ identity: id, name: id, region: '', node: '', joinedAt: 0 });
    }
    const rows: PersonRow[] = [
      {
        identity: selfId,
        name: selfName,
        isSelf: true,
        micMuted: !s.microphoneOn,
        cameraOff: !camTrack,
        presenting: !!myScreen,
        speaking: speaker === selfId,
        region: s.self?.region ?? '',
      },
    ];
    for (const p of people) {
      const tracks = byIdentity.get(p.identity) ?? [];
      const cam = tracks.find((r) => r.source === 'camera' && r.kind === 'video');
      const mic = tracks.find((r) => r.source === 'microphone');
      const screen = tracks.find((r) => r.source === 'screen' && r.kind === 'video');
      const micMuted = !mic || mic.producerPaused;
      cams.push({
        identity: p.identity,
        source: 'camera',
        name: p.name,
        label: p.name,
        video: cam?.track ?? null,
        videoOff: !cam?.track || cam.producerPaused,
        micMuted,
        speaking: speaker === p.identity,
        isSelf: false,
      });
      if (screen) {
        screens.unshift({
          identity: p.identity,
          source: 'screen',
          name: p.name,
          label: t('meeting.screenOf', { name: p.name }),
          video: screen.track,
          videoOff: !screen.track || screen.producerPaused,
          micMuted: false,
          speaking: false,
          isSelf: false,
        });
      }
      rows.push({
        identity: p.identity,
        name: p.name,
        isSelf: false,
        micMuted,
        cameraOff: !cam || cam.producerPaused,
        presenting: !!screen,
        speaking: speaker === p.identity,
        region: p.region,
      });
    }

    // Someone else's screen wins the stage over mine; further screens join the grid.
    const staged = screens[0] ?? null;
    const gridTiles = [...screens.slice(1), ...cams];
    this.#reconcile(staged, gridTiles);
    this.#stageArea.classList.toggle('has-stage', !!staged);
    this.#stage.hidden = !staged;
    if (staged) {
      this.#stageLabel.textContent = staged.isSelf
        ? t('meeting.youPresenting')
        : t('meeting.presenting', { name: staged.name });
    }
    this.#syncAudio(s.remoteTracks);
    this.#layout();

    // Connection banner: the session's view of it (connected only once joined again).
    const st = s.state;
    const state =
      st === 'joined'
        ? 'connected'
        : st === 'reconnecting'
          ? 'reconnecting'
          : st === 'closed'
            ? 'closed'
            : 'connecting';
    this.#banner.dataset.state = state;
    this.#banner.classList.toggle('visible', state !== 'connected' && state !== 'closed');
    this.#banner.replaceChildren(
      h('span', { class: 'spinner' }),
      h('span', {}, t(`conn.${state}` as MessageKey)),
    );

    this.#alone.hidden = !(st === 'joined' && people.length === 0 && !this.#panel.open);

    // Controls.
    const canPublish = s.canPublish;
    this.#control(
      this.#btn.mic,
      s.microphoneOn ? 'mic' : 'micOff',
      s.microphoneOn ? 'controls.micOff' : 'controls.micOn',
      !s.microphoneOn,
      canPublish,
    );
    this.#control(
      this.#btn.cam,
      s.cameraOn ? 'cam' : 'camOff',
      s.cameraOn ? 'controls.camOff' : 'controls.camOn',
      !s.cameraOn,
      canPublish,
    );
    this.#control(
      this.#btn.screen,
      s.screenOn ? 'screenStop' : 'screen',
      s.screenOn ? 'controls.screenStop' : 'controls.screenStart',
      false,
      canPublish,
    );
    this.#btn.screen.classList.toggle('active', s.screenOn);
    this.#control(this.#btn.leave, 'callEnd', 'controls.leave', false, true);
    this.#control(this.#btn.participants, 'people', 'controls.people', false, true);
    this.#btn.participants.append(this.#peopleBadge);
    this.#peopleBadge.textContent = String(rows.length);
    this.#btn.participants.classList.toggle('active', this.#panel.open && this.#panel.tab === 'people');
    this.#control(this.#btn.chat, 'chat', 'controls.chat', false, true);
    this.#btn.chat.append(this.#chatBadge);
    renderUnreadBadge(this.#chatBadge, this.#session.chat.unread);
    this.#btn.chat.classList.toggle('active', this.#panel.open && this.#panel.tab === 'chat');

    this.#panel.render(rows);
    if (this.#viewerNotice) this.#renderViewerNotice();
  }

  #control(btn: HTMLButtonElement, ic: IconName, label: MessageKey, off: boolean, enabled: boolean): void {
    btn.replaceChildren(icon(ic));
    btn.classList.toggle('off', off && enabled);
    const key = [...Object.entries(this.#btn)].find(([, b]) => b === btn)?.[0] ?? '';
    btn.disabled = !enabled || this.#busy.has(key) || this.#session.state === 'closed';
    const text = enabled ? t(label) : `${t(label)} — ${t('controls.viewerDisabled')}`;
    btn.title = text;
    btn.setAttribute('aria-label', text);
    setAttr(btn, 'aria-pressed', off ? 'true' : null);
  }

  #reconcile(staged: TileProps | null, gridTiles: TileProps[]): void {
    const wanted = new Map<string, TileProps>();
    const key = (p: TileProps) => `${p.identity}|${p.source}`;
    if (staged) wanted.set(key(staged), staged);
    for (const p of gridTiles) wanted.set(key(p), p);
    for (const [k, tile] of this.#tiles) {
      if (!wanted.has(k)) {
        tile.dispose();
        this.#tiles.delete(k);
      }
    }
    const place = (p: TileProps, parent: HTMLElement, before: Node | null) => {
      let tile = this.#tiles.get(key(p));
      if (!tile) {
        tile = new TileView(p.identity, p.source);
        this.#tiles.set(key(p), tile);
      }
      tile.update(p);
      // Move only when out of place: moving a playing <video> restarts it in some browsers.
      if (tile.el.parentElement !== parent || tile.el.nextSibling !== before)
        parent.insertBefore(tile.el, before);
    };
    if (staged) place(staged, this.#stage, this.#stageLabel);
    for (let i = gridTiles.length - 1, next: Node | null = null; i >= 0; i--) {
      place(gridTiles[i]!, this.#grid, next);
      next = this.#tiles.get(key(gridTiles[i]!))!.el;
    }
  }

  #syncAudio(remote: RemoteTrack[]): void {
    const live = new Map(remote.filter((r) => r.kind === 'audio' && r.track).map((r) => [r.producerId, r]));
    for (const [id, el] of this.#audio) {
      if (!live.has(id)) {
        el.srcObject = null;
        el.remove();
        this.#audio.delete(id);
      }
    }
    for (const [id, r] of live) {
      if (this.#audio.has(id)) continue;
      const el = h('audio', { autoplay: true, 'data-identity': r.identity, 'data-source': r.source });
      el.srcObject = new MediaStream([r.track!]);
      this.#audioSink.append(el);
      void el.play().catch(() => undefined);
      this.#audio.set(id, el);
    }
  }

  #layout(): void {
    const count = this.#grid.childElementCount;
    const rect = this.#grid.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    const g = gridLayout(count, rect.width, rect.height, GAP);
    this.#grid.style.setProperty('--cols', String(g.cols));
    this.#grid.style.setProperty('--tile-w', `${g.tileWidth}px`);
    this.#grid.style.setProperty('--tile-h', `${g.tileHeight}px`);
    // Each remote camera gets the simulcast layer its tile needs.
    const layer = spatialLayerFor(g.tileHeight * (window.devicePixelRatio || 1));
    for (const r of this.#session.remoteTracks) {
      if (r.source === 'camera' && r.kind === 'video')
        this.#session.setPreferredSpatialLayer(r.producerId, layer);
    }
  }

  #tickClock(): void {
    this.#clock.textContent = formatClock(new Date());
  }

  #onNotice(n: Notice): void {
    if (n.code === 'FORBIDDEN') {
      this.#viewerNotice = n;
      this.#renderViewerNotice();
      return;
    }
    this.#toast(n, errorText(n.code), 'error');
  }

  #renderViewerNotice(): void {
    const n = this.#viewerNotice!;
    let el = this.#notices.querySelector<HTMLElement>('[data-code="FORBIDDEN"]');
    if (!el) {
      el = h('div', {
        class: 'notice notice-warn',
        'data-testid': 'error',
        'data-code': n.code,
        role: 'alert',
      });
      this.#notices.prepend(el);
    }
    const dismiss = h(
      'button',
      { type: 'button', class: 'icon-btn', 'data-i18n-title': 'meeting.dismiss' },
      icon('close'),
    );
    dismiss.addEventListener('click', () => {
      this.#viewerNotice = null;
      el?.remove();
    });
    el.replaceChildren(
      icon('visibility'),
      h(
        'div',
        { class: 'notice-text' },
        h('div', {}, t('meeting.viewer')),
        h('div', { class: 'notice-detail' }, n.message),
      ),
      dismiss,
    );
    applyI18n(el);
  }

  #toast(n: Notice, text: string, kind: 'error' | 'info'): void {
    const el = h(
      'div',
      {
        class: `notice notice-${kind}`,
        'data-testid': kind === 'error' ? 'error' : 'toast',
        'data-code': n.code,
        role: 'alert',
      },
      icon(kind === 'error' ? 'warning' : 'info'),
      h(
        'div',
        { class: 'notice-text' },
        h('div', {}, text),
        n.message ? h('div', { class: 'notice-detail' }, n.message) : null,
      ),
    );
    this.#notices.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 8000 : 2500);
  }

  #showEnded(info: CloseInfo): void {
    this.#endedInfo = info;
    const left = info.kind === 'left' || info.kind === 'client';
    const titleKey: MessageKey = `ended.${info.kind}`;
    const code = info.error?.code ?? (left ? null : info.kind.toUpperCase());
    const rejoin = h('button', {
      type: 'button',
      class: 'btn-primary',
      'data-testid': 'btn-rejoin',
      'data-i18n': 'ended.rejoin',
    });
    const home = h('button', {
      type: 'button',
      class: 'btn-secondary',
      'data-testid': 'btn-home',
      'data-i18n': 'ended.home',
    });
    rejoin.addEventListener('click', () => this.#opts.onRejoin());
    home.addEventListener('click', () => this.#opts.onHome());
    const card = h(
      'div',
      { class: 'ended-card', 'data-testid': 'ended', 'data-kind': info.kind },
      h('div', { class: `ended-icon${left ? '' : ' bad'}` }, icon(left ? 'exit' : 'warning')),
      h('h1', { 'data-i18n': titleKey }),
      code
        ? h(
            'div',
            { class: 'error-box', 'data-testid': 'error', 'data-code': code, role: 'alert' },
            h(
              'div',
              {},
              h('div', {}, errorText(code)),
              info.error
                ? h(
                    'div',
                    { class: 'error-detail' },
                    t('ended.serverSaid', { code: info.error.code, message: info.error.message }),
                  )
                : null,
            ),
          )
        : null,
      h('div', { class: 'ended-actions' }, home, rejoin),
    );
    this.#ended.replaceChildren(card);
    this.#ended.hidden = false;
    applyI18n(this.#ended);
    this.#render();
  }
}
