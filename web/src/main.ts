import type { Device as MediaDevice } from 'mediasoup-client';
import './styles.css';
import { getLang, onLangChange, t } from './i18n';
import { DevTokenCache } from './protocol/DevTokenCache';
import { ApiError, type EdgeInfo, fetchEdgeInfo } from './protocol/HttpApi';
import { loadDevice, MeetingSession, type Notice } from './protocol/MeetingSession';
import { SessionPreparer } from './protocol/SessionPreparer';
import { resolveSignalingUrl } from './protocol/SignalingClient';
import { parseRoute, previewToken, type Route, roomPath, tabIdentity } from './route';
import { estimateCameraLayer } from './ui/layout';
import { MeetingView } from './ui/MeetingView';
import { type PrejoinChoice, PrejoinView } from './ui/PrejoinView';
import { warmUpTimeFormats } from './ui/timeFormat';

declare global {
  interface Window {
    /** For the browser tests: the current meeting session (getStats of consumers, state). */
    __meetview?: { session: MeetingSession | null };
  }
}

const root = document.getElementById('app')!;
let current: { dispose(): void } | null = null;
let edgeInfo: EdgeInfo | null = null;
let edgeInfoError: Notice | null = null;
const devTokens = new DevTokenCache();
/** The session for the prejoin's current choice, connected ahead of the click on Join. */
const preparer = new SessionPreparer();
/** Loaded while the prejoin shows, for the next meeting (a Device can serve one session after another). */
let device: { caps: unknown; device: Promise<MediaDevice> } | null = null;

function preloadDevice(): Promise<MediaDevice> | undefined {
  const caps = edgeInfo?.routerRtpCapabilities;
  if (!caps) return undefined;
  if (device?.caps !== caps) {
    device = { caps, device: loadDevice(caps) };
    device.device.catch(() => {
      device = null;
    });
  }
  return device.device;
}
window.__meetview = { session: null };

function mount(view: { el: HTMLElement; dispose(): void }): void {
  current?.dispose();
  current = view;
  root.replaceChildren(view.el);
}

function sessionStorageOrNull(): Storage | null {
  try {
    return sessionStorage;
  } catch {
    return null;
  }
}

async function loadEdgeInfo(): Promise<void> {
  try {
    edgeInfo = await fetchEdgeInfo();
    edgeInfoError = null;
  } catch (e) {
    edgeInfo = null;
    edgeInfoError = {
      code: e instanceof ApiError ? e.code : 'CONFIG_FAILED',
      message: String((e as Error).message),
    };
  }
}

function showPrejoin(route: Route): void {
  const preview = route.token ? previewToken(route.token) : null;
  const noToken = !route.token;
  let error: Notice | null = null;
  if (noToken && edgeInfoError) error = edgeInfoError;
  else if (noToken && edgeInfo && !edgeInfo.devTokens) error = { code: 'NO_TOKEN', message: '' };
  void preloadDevice();
  // The meeting view's time formatters are slow to make the first time: make them while the person chooses.
  setTimeout(warmUpTimeFormats, 0);
  preparer.clear();
  // The session is prepared as soon as its token is known: from the link now, or once a dev token for the
  // typed name and room arrives. The prejoin shows when its media connection is ready.
  const prepare = (url: string) =>
    preparer.prepare(
      url,
      { routerRtpCapabilities: edgeInfo?.routerRtpCapabilities, device: preloadDevice() },
      () => view.setConnectionReady(true),
    );
  const view = new PrejoinView({
    room: route.room,
    tokenPreview: preview,
    region: edgeInfo?.region ?? null,
    error,
    hasToken: !noToken,
    blocked: noToken && !edgeInfo?.devTokens,
    onJoin: (choice) => join(route, choice),
    // Without a token in the link, the dev token is fetched while the person is still choosing.
    ...(noToken && edgeInfo?.devTokens
      ? {
          onChoiceChange: ({ room, name }: { room: string; name: string }) => {
            view.setConnectionReady(false);
            devTokens
              .prefetch({ room, name, identity: tabIdentity(sessionStorageOrNull()) })
              ?.then((dev) => {
                if (current === view)
                  prepare(resolveSignalingUrl(dev.url, { token: dev.token }, location.href));
              })
              .catch(() => undefined);
          },
        }
      : {}),
  });
  mount(view);
  if (route.token) prepare(linkSignalingUrl(route.token, route.room));
}

/** The page's own origin serves /rtc (the edge serves this client); `room` lets the edge refuse a token
 * for another room with WRONG_ROOM instead of silently joining that room. */
function linkSignalingUrl(token: string, room: string | null): string {
  return resolveSignalingUrl('/rtc', { token, room }, location.href);
}

async function join(route: Route, choice: PrejoinChoice): Promise<void> {
  let url: string;
  if (route.token) {
    url = linkSignalingUrl(route.token, route.room);
  } else {
    const dev = await devTokens.take({
      room: choice.room,
      identity: tabIdentity(sessionStorageOrNull()),
      name: choice.name,
    });
    url = resolveSignalingUrl(dev.url, { token: dev.token }, location.href);
    if (route.room !== choice.room) history.pushState(null, '', roomPath(choice.room));
  }
  enterMeeting(url, choice, { room: choice.room, token: route.token });
}

function enterMeeting(url: string, choice: PrejoinChoice, route: Route): void {
  const session = preparer.take(url) ?? new MeetingSession({ url });
  window.__meetview = { session };
  // The socket opens first; the meeting's DOM is built while it connects (the view renders from the
  // session's state, so it misses nothing).
  void session.join({
    camera: choice.camera,
    microphone: choice.microphone,
    microphoneMuted: choice.microphoneMuted,
    cameraDeviceId: choice.cameraDeviceId,
    microphoneDeviceId: choice.microphoneDeviceId,
    routerRtpCapabilities: edgeInfo?.routerRtpCapabilities,
    device: preloadDevice(),
    cameraLayer: (people) =>
      estimateCameraLayer(people, {
        width: window.innerWidth,
        height: window.innerHeight,
        dpr: window.devicePixelRatio || 1,
      }),
  });
  const view = new MeetingView(session, {
    room: choice.room,
    name: choice.name,
    onRejoin: () => showPrejoin(route),
    onHome: () => {
      history.pushState(null, '', '/');
      showPrejoin({ room: null, token: null });
    },
  });
  mount({
    el: view.el,
    dispose: () => {
      view.dispose();
      if (session.state !== 'closed') void session.leave();
    },
  });
  performance.mark('meetview:view');
}

// Closing the tab leaves the meeting at once rather than after the server's resume grace period.
window.addEventListener('pagehide', () => {
  const s = window.__meetview?.session;
  if (s && s.state !== 'closed') void s.leave();
});
// After the browser was offline, the old socket may be dead without knowing it: reconnect now.
let wasOffline = false;
window.addEventListener('offline', () => {
  wasOffline = true;
});
window.addEventListener('online', () => {
  if (wasOffline) window.__meetview?.session?.signaling.drop();
  wasOffline = false;
});
window.addEventListener('popstate', () => showPrejoin(parseRoute(location.pathname, location.search)));

document.documentElement.lang = getLang();
const setTitle = () => {
  const route = parseRoute(location.pathname, location.search);
  document.title = route.room ? `${route.room} · ${t('app.name')}` : t('app.name');
};
onLangChange(setTitle);
setTitle();

void loadEdgeInfo().then(() => showPrejoin(parseRoute(location.pathname, location.search)));
