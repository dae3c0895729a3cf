import { applyI18n, errorText, onLangChange, t } from '../i18n';
import type { Notice } from '../protocol/MeetingSession';
import { ROOM_RE, type TokenPreview } from '../route';
import { h, setAttr } from './dom';
import { icon, logo } from './icons';
import { langButton } from './LangButton';
import { avatarColor, initials } from './layout';

export interface PrejoinOptions {
  /** The room from the URL; null shows a room field. */
  room: string | null;
  /** A token from the URL: its room and name are shown, not asked. */
  tokenPreview: TokenPreview | null;
  region: string | null;
  /** An error to show at once (no token and dev tokens off, a refused session, …). */
  error: Notice | null;
  /** The link carries a token (even one that cannot be read): the server, not this form, checks it. */
  hasToken: boolean;
  /** Joining is impossible (no token and no dev tokens): the button stays disabled. */
  blocked: boolean;
  /** Called with the user's choices; it rejects with a Notice-like error to show. */
  onJoin: (choice: PrejoinChoice) => Promise<void>;
  /** Called (debounced) when the room or name settles, so the app can get ready before Join (a token). */
  onChoiceChange?: (choice: { room: string; name: string }) => void;
}

/** How long typing must pause before onChoiceChange. */
const CHOICE_SETTLE_MS = 100;

export interface PrejoinChoice {
  room: string;
  name: string;
  camera: MediaStreamTrack | null;
  microphone: MediaStreamTrack | null;
  microphoneMuted: boolean;
  cameraDeviceId: string | null;
  microphoneDeviceId: string | null;
}

const NAME_KEY = 'meetview.name';

/** The screen before the meeting: preview, devices, name (and room), join. */
export class PrejoinView {
  readonly el: HTMLElement;
  readonly #opts: PrejoinOptions;
  readonly #video: HTMLVideoElement;
  readonly #previewOff: HTMLElement;
  readonly #previewAvatar: HTMLElement;
  readonly #nameInput: HTMLInputElement;
  readonly #roomInput: HTMLInputElement | null;
  readonly #camSelect: HTMLSelectElement;
  readonly #micSelect: HTMLSelectElement;
  readonly #camBtn: HTMLButtonElement;
  readonly #micBtn: HTMLButtonElement;
  readonly #joinBtn: HTMLButtonElement;
  #connectionReady = false;
  readonly #errorBox: HTMLElement;
  readonly #meter: HTMLElement;
  #camera: MediaStreamTrack | null = null;
  #microphone: MediaStreamTrack | null = null;
  #cameraWanted = true;
  #micMuted = false;
  #joining = false;
  #lastError: { e: Notice; text: string | (() => string) | undefined } | null = null;
  #handedOver = false;
  #disposed = false;
  #choiceTimer: ReturnType<typeof setTimeout> | undefined;
  #audioCtx: AudioContext | null = null;
  #meterFrame = 0;
  /** The first capture; joining waits for it so that a fast click does not join without media. */
  #ready: Promise<void> = Promise.resolve();
  readonly #offLang: () => void;

  constructor(opts: PrejoinOptions) {
    this.#opts = opts;
    const preview = opts.tokenPreview;
    this.#video = h('video', { autoplay: true, playsinline: true, class: 'mirror' });
    this.#video.muted = true;
    this.#previewAvatar = h('div', { class: 'avatar avatar-xl' });
    this.#previewOff = h(
      'div',
      { class: 'preview-off' },
      this.#previewAvatar,
      h('span', { 'data-i18n': 'prejoin.cameraStarting', class: 'preview-off-text' }),
    );
    this.#meter = h('span', { class: 'mic-meter' });
    this.#micBtn = h('button', { type: 'button', class: 'round-btn', 'data-testid': 'prejoin-mic-toggle' });
    this.#camBtn = h('button', { type: 'button', class: 'round-btn', 'data-testid': 'prejoin-cam-toggle' });
    this.#micBtn.addEventListener('click', () => this.#toggleMic());
    this.#camBtn.addEventListener('click', () => void this.#toggleCamera());

    this.#micSelect = h('select', { 'data-testid': 'prejoin-mic', class: 'device-select' });
    this.#camSelect = h('select', { 'data-testid': 'prejoin-camera', class: 'device-select' });
    this.#micSelect.addEventListener('change', () => void this.#switchDevice('microphone'));
    this.#camSelect.addEventListener('change', () => void this.#switchDevice('camera'));

    const storedName = localStorage.getItem(NAME_KEY) ?? '';
    this.#nameInput = h('input', {
      type: 'text',
      id: 'prejoin-name',
      'data-testid': 'prejoin-name',
      'data-i18n-placeholder': 'prejoin.namePlaceholder',
      maxlength: 64,
      autocomplete: 'name',
      value: preview?.name ?? storedName,
    });
    if (preview?.name) this.#nameInput.readOnly = true;
    this.#nameInput.addEventListener('input', () => {
      this.#updatePreviewAvatar();
      this.#choiceChanged();
    });

    const roomFixed = preview?.room ?? opts.room;
    this.#roomInput = roomFixed
      ? null
      : h('input', {
          type: 'text',
          id: 'prejoin-room',
          'data-testid': 'prejoin-room',
          'data-i18n-placeholder': 'prejoin.roomPlaceholder',
          maxlength: 64,
          autocomplete: 'off',
          spellcheck: 'false',
        });
    this.#roomInput?.addEventListener('input', () => this.#choiceChanged());

    // The test id is set only while an error shows, so that a test waiting for `error` finds a real one.
    this.#errorBox = h('div', { class: 'error-box', role: 'alert', hidden: true });
    this.#joinBtn = h('button', {
      type: 'submit',
      class: 'btn-primary btn-join',
      'data-testid': 'prejoin-join',
    });

    const form = h(
      'form',
      { class: 'join-card', novalidate: true },
      h('h1', { 'data-i18n': 'prejoin.heading' }),
      roomFixed
        ? h('p', { class: 'subheading invited', 'data-testid': 'prejoin-room-name' })
        : h('p', { class: 'subheading', 'data-i18n': 'prejoin.subheading' }),
      this.#roomInput
        ? h(
            'label',
            { class: 'field', for: 'prejoin-room' },
            h('span', { 'data-i18n': 'prejoin.room' }),
            this.#roomInput,
          )
        : null,
      h(
        'label',
        { class: 'field', for: 'prejoin-name' },
        h('span', { 'data-i18n': 'prejoin.name' }),
        this.#nameInput,
      ),
      this.#errorBox,
      this.#joinBtn,
      h('p', { class: 'meta ready', 'data-testid': 'prejoin-ready', hidden: true }),
      opts.region ? h('p', { class: 'meta', 'data-testid': 'prejoin-region' }) : null,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#join();
    });

    this.el = h(
      'div',
      { class: 'prejoin' },
      h(
        'header',
        { class: 'topbar' },
        h('div', { class: 'brand' }, logo(), h('span', { 'data-i18n': 'app.name' })),
        langButton(),
      ),
      h(
        'main',
        { class: 'prejoin-main' },
        h(
          'section',
          { class: 'preview-card' },
          h(
            'div',
            { class: 'preview' },
            this.#video,
            this.#previewOff,
            h('div', { class: 'preview-name', 'data-testid': 'prejoin-preview-name' }),
            h('div', { class: 'preview-controls' }, this.#micBtn, this.#camBtn),
          ),
          h(
            'div',
            { class: 'device-row' },
            h('label', { class: 'device' }, icon('mic'), this.#meter, this.#micSelect),
            h('label', { class: 'device' }, icon('cam'), this.#camSelect),
          ),
        ),
        form,
      ),
      h('footer', { class: 'prejoin-footer', 'data-i18n': 'prejoin.footer' }),
    );
    this.#offLang = onLangChange(() => {
      this.#render();
      if (this.#lastError) this.showError(this.#lastError.e, this.#lastError.text);
    });
    if (opts.error) this.showError(opts.error);
    this.#render();
    this.#ready = this.#start();
    this.#choiceChanged();
  }

  /** Shows an error (or clears it with null); `text` replaces the standard message of the code. */
  showError(e: Notice | null, text?: string | (() => string)): void {
    this.#lastError = e ? { e, text } : null;
    this.#errorBox.hidden = e === null;
    this.#errorBox.replaceChildren();
    if (!e) {
      this.#errorBox.removeAttribute('data-code');
      this.#errorBox.removeAttribute('data-testid');
      return;
    }
    this.#errorBox.dataset.code = e.code;
    this.#errorBox.dataset.testid = 'error';
    const detail =
      e.message && e.message !== errorText(e.code) ? h('div', { class: 'error-detail' }, e.message) : null;
    this.#errorBox.append(
      icon('warning'),
      h('div', {}, h('div', {}, typeof text === 'function' ? text() : (text ?? errorText(e.code))), detail),
    );
  }

  /** Stops the preview; tracks handed to the meeting are not stopped. */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#choiceTimer);
    this.#offLang();
    cancelAnimationFrame(this.#meterFrame);
    void this.#audioCtx?.close().catch(() => undefined);
    if (!this.#handedOver) {
      this.#camera?.stop();
      this.#microphone?.stop();
    }
    this.el.remove();
  }

  /** Shows whether the media connection for this choice is made (see MeetingSession.prepare()). */
  setConnectionReady(ready: boolean): void {
    this.#connectionReady = ready;
    this.#render();
  }

  #render(): void {
    applyI18n(this.el);
    const ready = this.el.querySelector<HTMLElement>('[data-testid="prejoin-ready"]');
    if (ready) {
      ready.hidden = !this.#connectionReady;
      ready.textContent = t('prejoin.ready');
    }
    const room = this.#opts.tokenPreview?.room ?? this.#opts.room;
    const invited = this.el.querySelector<HTMLElement>('.invited');
    if (invited && room) invited.textContent = t('prejoin.invited', { room });
    const region = this.el.querySelector<HTMLElement>('[data-testid="prejoin-region"]');
    if (region && this.#opts.region) region.textContent = t('prejoin.region', { region: this.#opts.region });
    this.#joinBtn.textContent = t(this.#joining ? 'prejoin.joining' : 'prejoin.join');
    this.#joinBtn.disabled = this.#joining || this.#opts.blocked;
    this.#renderToggles();
    this.#updatePreviewAvatar();
    this.#fillSelects();
    const offText = this.#previewOff.querySelector('.preview-off-text');
    if (offText)
      offText.textContent = t(
        this.#cameraWanted && !this.#camera ? 'prejoin.cameraStarting' : 'prejoin.cameraOff',
      );
  }

  #renderToggles(): void {
    const micOn = !!this.#microphone && !this.#micMuted;
    this.#micBtn.replaceChildren(icon(micOn ? 'mic' : 'micOff'));
    this.#micBtn.classList.toggle('off', !micOn);
    const micLabel = t(micOn ? 'controls.micOff' : 'controls.micOn');
    this.#micBtn.title = micLabel;
    this.#micBtn.setAttribute('aria-label', micLabel);
    setAttr(this.#micBtn, 'aria-pressed', String(!micOn));
    const camOn = !!this.#camera;
    this.#camBtn.replaceChildren(icon(camOn ? 'cam' : 'camOff'));
    this.#camBtn.classList.toggle('off', !camOn);
    const camLabel = t(camOn ? 'controls.camOff' : 'controls.camOn');
    this.#camBtn.title = camLabel;
    this.#camBtn.setAttribute('aria-label', camLabel);
    this.#previewOff.hidden = camOn;
  }

  #choiceChanged(): void {
    const notify = this.#opts.onChoiceChange;
    if (!notify) return;
    clearTimeout(this.#choiceTimer);
    this.#choiceTimer = setTimeout(() => {
      const room = (this.#opts.tokenPreview?.room ?? this.#opts.room ?? this.#roomInput?.value ?? '').trim();
      const name = this.#nameInput.value.trim();
      if (!this.#disposed && name && ROOM_RE.test(room)) notify({ room, name });
    }, CHOICE_SETTLE_MS);
  }

  #updatePreviewAvatar(): void {
    const name = this.#nameInput.value.trim();
    this.#previewAvatar.textContent = initials(name || '?');
    this.#previewAvatar.style.background = avatarColor(name || 'anonymous');
    const label = this.el.querySelector<HTMLElement>('.preview-name');
    if (label) label.textContent = name;
  }

  async #start(): Promise<void> {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      });
      if (this.#disposed) {
        for (const tr of stream.getTracks()) tr.stop();
        return;
      }
      this.#camera = stream.getVideoTracks()[0] ?? null;
      this.#microphone = stream.getAudioTracks()[0] ?? null;
    } catch {
      // Try each device alone: a machine with a microphone but no camera is common.
      this.#microphone = await this.#capture('microphone', null);
      this.#camera = await this.#capture('camera', null);
      if (!this.#camera && !this.#microphone) this.showError({ code: 'MEDIA_BLOCKED', message: '' });
    }
    this.#cameraWanted = !!this.#camera;
    this.#attachPreview();
    this.#startMeter();
    await this.#enumerate();
    this.#render();
  }

  async #capture(kind: 'camera' | 'microphone', deviceId: string | null): Promise<MediaStreamTrack | null> {
    try {
      const exact = deviceId ? { deviceId: { exact: deviceId } } : {};
      const stream = await navigator.mediaDevices.getUserMedia(
        kind === 'camera'
          ? { video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 }, ...exact } }
          : { audio: deviceId ? exact : true },
      );
      const track = (kind === 'camera' ? stream.getVideoTracks() : stream.getAudioTracks())[0] ?? null;
      if (this.#disposed) track?.stop();
      return this.#disposed ? null : track;
    } catch {
      return null;
    }
  }

  #devices: MediaDeviceInfo[] = [];

  async #enumerate(): Promise<void> {
    try {
      this.#devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      this.#devices = [];
    }
    this.#fillSelects();
  }

  #fillSelects(): void {
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, current: MediaStreamTrack | null) => {
      const list = this.#devices.filter((d) => d.kind === kind && d.deviceId);
      const currentId = current?.getSettings().deviceId ?? select.value;
      select.replaceChildren();
      if (list.length === 0) {
        select.append(h('option', { value: '' }, t('prejoin.noDevices')));
        select.disabled = true;
        return;
      }
      select.disabled = false;
      const generic = t(kind === 'videoinput' ? 'prejoin.camera' : 'prejoin.microphone');
      select.append(
        ...list.map((d, i) => h('option', { value: d.deviceId }, d.label || `${generic} ${i + 1}`)),
      );
      if (currentId && list.some((d) => d.deviceId === currentId)) select.value = currentId;
    };
    fill(this.#micSelect, 'audioinput', this.#microphone);
    fill(this.#camSelect, 'videoinput', this.#camera);
    this.#micSelect.title = t('prejoin.microphone');
    this.#camSelect.title = t('prejoin.camera');
  }

  async #switchDevice(kind: 'camera' | 'microphone'): Promise<void> {
    const select = kind === 'camera' ? this.#camSelect : this.#micSelect;
    if (kind === 'camera') {
      if (!this.#cameraWanted) return; // used when the camera is turned on
      this.#camera?.stop();
      this.#camera = await this.#capture('camera', select.value || null);
      this.#attachPreview();
    } else {
      this.#microphone?.stop();
      this.#microphone = await this.#capture('microphone', select.value || null);
      if (this.#microphone) this.#microphone.enabled = !this.#micMuted;
      this.#startMeter();
    }
    this.#render();
  }

  #toggleMic(): void {
    this.#micMuted = !this.#micMuted;
    if (this.#microphone) this.#microphone.enabled = !this.#micMuted;
    this.#render();
  }

  async #toggleCamera(): Promise<void> {
    if (this.#camera) {
      // Off means off: the track stops so the camera light goes out.
      this.#camera.stop();
      this.#camera = null;
      this.#cameraWanted = false;
    } else {
      this.#cameraWanted = true;
      this.#render();
      this.#camera = await this.#capture('camera', this.#camSelect.value || null);
      if (!this.#camera) this.showError({ code: 'CAMERA_FAILED', message: '' });
    }
    this.#attachPreview();
    this.#render();
  }

  #attachPreview(): void {
    this.#video.srcObject = this.#camera ? new MediaStream([this.#camera]) : null;
  }

  /** A small live level bar beside the microphone, so the user sees that it hears them. */
  #startMeter(): void {
    cancelAnimationFrame(this.#meterFrame);
    void this.#audioCtx?.close().catch(() => undefined);
    this.#audioCtx = null;
    const track = this.#microphone;
    if (!track || typeof AudioContext === 'undefined') return;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    this.#audioCtx = ctx;
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
      const level = this.#micMuted ? 0 : Math.min(1, peak / 64);
      this.#meter.style.setProperty('--level', level.toFixed(2));
      this.#meterFrame = requestAnimationFrame(tick);
    };
    tick();
  }

  async #join(): Promise<void> {
    if (this.#joining) return;
    const name = this.#nameInput.value.trim();
    const room = (this.#opts.tokenPreview?.room ?? this.#opts.room ?? this.#roomInput?.value ?? '').trim();
    // With a token from the link, the token carries the name (and the server judges the token).
    const hasToken = this.#opts.tokenPreview !== null || this.#opts.hasToken;
    if (!hasToken && !name) {
      this.showError({ code: 'NEED_NAME', message: '' }, () => t('prejoin.needName'));
      this.#nameInput.focus();
      return;
    }
    if (!ROOM_RE.test(room) && !hasToken) {
      this.showError({ code: 'BAD_ROOM', message: '' }, () => t('prejoin.needRoom'));
      this.#roomInput?.focus();
      return;
    }
    if (name && !this.#nameInput.readOnly) localStorage.setItem(NAME_KEY, name);
    this.showError(null);
    this.#joining = true;
    this.#render();
    await this.#ready;
    try {
      this.#handedOver = true;
      await this.#opts.onJoin({
        room,
        name,
        camera: this.#camera,
        microphone: this.#microphone,
        microphoneMuted: this.#micMuted,
        cameraDeviceId: this.#camSelect.value || null,
        microphoneDeviceId: this.#micSelect.value || null,
      });
    } catch (error) {
      this.#handedOver = false;
      const e = error as { code?: string; message?: string };
      this.showError({ code: e.code ?? 'UNKNOWN', message: e.message ?? String(error) });
      this.#joining = false;
      this.#render();
    }
  }
}
