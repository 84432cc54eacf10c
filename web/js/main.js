import { api, setCsrfToken, whenLoginRequired } from './api.js';
import { connectEvents } from './events.js';
import { byId, setText } from './dom.js';
import { Ringer } from './ringer.js';
import { StatsChart } from './stats-chart.js';
import { CallView, applyCallSnapshot, panelPhase } from './call-view.js';
import { DirectoryView } from './directory-view.js';
import { UnitView } from './unit-view.js';
import { HistoryView } from './history-view.js';
import { LevelsView } from './levels-view.js';
import { SelfTestView } from './selftest-view.js';
import { GroupsView } from './groups-view.js';
import { PagingView } from './paging-view.js';
import { SiteView } from './site-view.js';

/**
 * The panel: one state object, fed by the event stream (/api/events), the answers to the
 * panel's own requests and a slow /api/status poll; every change re-renders the parts it touches.
 * It starts with the login: the stream and the poll run only while the session is live.
 */

const STATUS_POLL_MS = 5000;
const TOAST_MS = 6000;
const SOUND_SETTING = 'intercom.ringSound';

const state = {
  unit: null,
  status: null,
  statusReceivedAt: 0,
  /** The front panel's GPIO from the event stream (fresher than status.gpio), or null before one came. */
  gpio: null,
  users: [],
  peers: [],
  /** The live call (ringing or active), or null. */
  call: null,
  callReceivedAt: 0,
  /** The last call that ended, for the idle card. */
  lastEnded: null,
  /** Do-not-disturb as the unit last said (status poll or the answer to switching it), or null. */
  doNotDisturb: null,
  /** Volume, microphone gain and mute as the unit last said (GET /api/audio/levels), or null. */
  levels: null,
  /** How many levels events have arrived: tells a stale answer to the panel's own change. */
  levelsEvents: 0,
};

const chart = new StatsChart(byId('stats-chart'), {
  series: [
    { key: 'delayMs', label: 'playout delay', colorVar: '--chart-delay' },
    { key: 'jitterMs', label: 'jitter', colorVar: '--chart-jitter' },
  ],
});

const ringer = new Ringer(() => renderRing());
const unitView = new UnitView();
const callView = new CallView({
  onAnswer: (callId) => callRequest(() => api.accept(callId)),
  onReject: (callId) => callRequest(() => api.end(callId)),
  onHangUp: (callId) => callRequest(() => api.end(callId)),
  onOpenDoor: () =>
    api.openDoor().then(
      (answer) => toast(`Door opened for ${(answer.pulseMs / 1000).toFixed(1)} s`),
      (error) => toast(error.message),
    ),
  onOpenPeerDoor: (callId) =>
    api.openPeerDoor(callId).then(
      (answer) => toast(`Door at ${answer.unitName} opened for ${(answer.pulseMs / 1000).toFixed(1)} s`),
      (error) => toast(error.message),
    ),
});
const directoryView = new DirectoryView({ onDial: (to) => dial(to) });
const historyView = new HistoryView({ onDial: (to) => dial(to) });
const levelsView = new LevelsView({
  async onChange(change) {
    const eventsBefore = state.levelsEvents;
    try {
      const answer = await api.setLevels(change);
      // The unit sends a levels event for every change, this one included: one that arrived while
      // the request was out is as new as the answer or newer (another panel, the API, the button).
      if (state.levelsEvents === eventsBefore) state.levels = answer;
    } catch (error) {
      toast(error.message);
    }
    renderLevels();
  },
});
const selfTestView = new SelfTestView({ run: () => api.runSelfTest(), toast: (message) => toast(message) });
const pagingView = new PagingView();
const groupsView = new GroupsView({ onDial: (to) => dial(to), onGroups: (groups) => pagingView.setGroups(groups) });
const siteView = new SiteView({ toast: (message) => toast(message) });

// ---- rendering -----------------------------------------------------------------------------

function renderCall() {
  callView.render(state);
  if (panelPhase(state.call) === 'ringing-in') ringer.start();
  else ringer.stop();
  renderRing();
  renderLevels();
}

function renderLevels() {
  levelsView.render(state.levels, panelPhase(state.call) === 'active');
  selfTestView.render(state.status?.selfTest, panelPhase(state.call) !== 'idle');
}

function renderRing() {
  const ringState = ringer.state;
  byId('call-banner').dataset.ring = ringState;
  byId('sound-hint').hidden = ringState !== 'blocked';
  const sound = byId('sound-button');
  sound.setAttribute('aria-pressed', String(ringer.enabled));
  setText(byId('sound-state'), ringer.enabled ? 'on' : 'off');
}

function renderDoNotDisturb() {
  const enabled = state.doNotDisturb?.enabled === true;
  const button = byId('dnd-button');
  button.setAttribute('aria-pressed', String(enabled));
  setText(byId('dnd-state'), enabled ? 'on' : 'off');
  byId('dnd-hint').hidden = !enabled;
}

let switchingDnd = false;
/** When the panel last switched it: a status asked for before then is older than the switch's answer. */
let dndSwitchedAt = 0;
byId('dnd-button').addEventListener('click', async () => {
  if (switchingDnd) return;
  switchingDnd = true;
  const button = byId('dnd-button');
  button.setAttribute('aria-busy', 'true');
  try {
    state.doNotDisturb = await api.setDoNotDisturb(!(state.doNotDisturb?.enabled === true));
    dndSwitchedAt = performance.now();
    renderDoNotDisturb();
  } catch (error) {
    toast(error.message);
  } finally {
    switchingDnd = false;
    button.removeAttribute('aria-busy');
  }
});

function recordStats(call) {
  if (call?.phase !== 'active' || !call.stats || call.id !== state.call?.id) return;
  chart.push(performance.now(), { delayMs: call.stats.currentDelayMs, jitterMs: call.stats.jitterMs });
  byId('stats-chart').dataset.samples = String(chart.sampleCount);
}

function takeCall(snapshot) {
  const previousId = state.call?.id ?? null;
  if (!applyCallSnapshot(state, snapshot, performance.now())) return;
  const currentId = state.call?.id ?? null;
  if (currentId !== previousId) {
    chart.clear();
    byId('stats-chart').dataset.samples = '0';
  }
  recordStats(state.call);
  renderCall();
  // The Call buttons are enabled only while no call is live.
  if (Boolean(currentId) !== Boolean(previousId)) {
    directoryView.renderUsers(state);
    historyView.render(state);
  }
  // A call that ended is in the unit's history now.
  if (snapshot?.phase === 'ended') void historyView.refresh(state);
}

let toastTimer = null;
function toast(message) {
  const element = byId('toast');
  setText(element, message);
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    element.hidden = true;
  }, TOAST_MS);
}

// ---- actions -------------------------------------------------------------------------------

async function callRequest(send) {
  callView.setBusy(true);
  try {
    const answer = await send();
    takeCall(answer.call);
  } catch (error) {
    if (error.body?.call) takeCall(error.body.call);
    toast(error.message);
  } finally {
    callView.setBusy(false);
  }
}

async function dial(to) {
  const from = directoryView.fromUser;
  if (!from) {
    toast('Register a user on this unit first: calls are made as one of its users.');
    return;
  }
  try {
    const answer = await api.initiate(from, to);
    takeCall(answer.call);
  } catch (error) {
    if (error.body?.call) takeCall(error.body.call);
    toast(error.message);
  }
}

let registering = false;
byId('register-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (registering) return;
  const input = byId('register-name');
  const result = byId('register-result');
  const name = input.value.trim();
  if (!name) {
    result.dataset.state = 'error';
    setText(result, 'Type a name first.');
    input.focus();
    return;
  }
  // aria-busy rather than disabled: a disabled button would drop the keyboard focus.
  const form = event.currentTarget;
  registering = true;
  form.setAttribute('aria-busy', 'true');
  try {
    const answer = await api.register(name);
    result.dataset.state = 'ok';
    setText(result, answer.created ? `${answer.user.name} is now a user of this unit.` : `${answer.user.name} was already a user of this unit.`);
    input.value = '';
    // The event stream reports it too; asking directly shows it at once even if the stream lags.
    state.users = (await api.users()).users;
    directoryView.renderUsers(state);
    directoryView.fromSelect.value = answer.user.name;
  } catch (error) {
    result.dataset.state = 'error';
    setText(result, error.message);
    input.focus();
  } finally {
    registering = false;
    form.removeAttribute('aria-busy');
  }
});

const savedSound = localStorage.getItem(SOUND_SETTING);
if (savedSound === 'off') ringer.setEnabled(false);
byId('sound-button').addEventListener('click', () => {
  ringer.setEnabled(!ringer.enabled);
  localStorage.setItem(SOUND_SETTING, ringer.enabled ? 'on' : 'off');
  renderRing();
});
// Browsers let a page make sound only after the person has interacted with it.
for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, () => ringer.unlock(), { capture: true, passive: true });

// ---- login ---------------------------------------------------------------------------------

/** The event stream and the status poll while logged in; null otherwise. */
let live = null;

/** Shows one of the three screens: the login form, how to set a password, or the panel. */
function showScreen(screen) {
  byId('login').hidden = screen !== 'login';
  byId('no-password').hidden = screen !== 'no-password';
  byId('panel').hidden = screen !== 'panel';
  byId('logout-button').hidden = screen !== 'panel';
  if (screen !== 'panel') {
    const connection = byId('connection');
    connection.dataset.state = 'logged-out';
    setText(connection, screen === 'login' ? 'Not logged in' : 'No password set');
  }
}

function loginResult(text) {
  const result = byId('login-result');
  result.dataset.state = 'error';
  setText(result, text);
}

function enterPanel(csrfToken) {
  setCsrfToken(csrfToken);
  setText(byId('login-result'), '');
  showScreen('panel');
  startLive();
}

function leavePanel() {
  stopLive();
  setCsrfToken(null);
  ringer.stop();
}

/** Asks the unit whether this browser is logged in and shows the matching screen. */
async function checkSession(message) {
  let session;
  try {
    session = await api.session();
  } catch (error) {
    toast(error.message);
    setTimeout(() => checkSession(message), 3000);
    return;
  }
  if (session.authenticated) {
    enterPanel(session.csrfToken);
    return;
  }
  leavePanel();
  // The unit's name is public (/api/health): it tells which unit asks for the password.
  api.health().then((health) => setText(byId('unit-title'), health.name), () => undefined);
  if (!session.passwordSet) {
    showScreen('no-password');
    return;
  }
  showScreen('login');
  if (message) loginResult(message);
  byId('login-password').focus();
}

let loggingIn = false;
byId('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (loggingIn) return;
  const input = byId('login-password');
  if (!input.value) {
    loginResult('Type the password first.');
    input.focus();
    return;
  }
  const form = event.currentTarget;
  loggingIn = true;
  form.setAttribute('aria-busy', 'true');
  try {
    const answer = await api.login(input.value);
    input.value = '';
    enterPanel(answer.csrfToken);
  } catch (error) {
    if (error.code === 'no-password') {
      await checkSession();
      return;
    }
    loginResult(error.code === 'wrong-password' ? 'Wrong password.' : error.message);
    input.select();
    input.focus();
  } finally {
    loggingIn = false;
    form.removeAttribute('aria-busy');
  }
});

byId('logout-button').addEventListener('click', async () => {
  try {
    await api.logout();
  } catch (error) {
    toast(error.message);
    return;
  }
  leavePanel();
  showScreen('login');
  byId('login-password').focus();
});

byId('recheck-button').addEventListener('click', () => checkSession());

whenLoginRequired((message) => {
  if (!live) return;
  void checkSession(message ?? 'Your session has ended; log in again.');
});

// ---- live data -----------------------------------------------------------------------------

function startLive() {
  if (live) return;
  live = { events: null, statusTimer: null };
  live.events = connectEvents(
    '/api/events',
    {
      hello(data) {
        state.unit = data.unit;
        state.users = data.users;
        state.peers = data.peers;
        // Whatever happened while disconnected, the hello's call is the truth now.
        if (!data.call || data.call.phase === 'ended') {
          if (state.call) state.lastEnded = { ...state.call, phase: 'ended', endReason: null };
          state.call = null;
        }
        takeCall(data.call);
        unitView.render(state);
        directoryView.renderPeers(state);
        directoryView.renderUsers(state);
        renderCall();
        void historyView.refresh(state);
        void groupsView.refresh();
        void pagingView.refresh();
      },
      call: (call) => takeCall(call),
      page: () => pagingView.take(),
      stats: (call) => takeCall(call),
      peers(data) {
        state.peers = data.peers;
        directoryView.renderPeers(state);
        // A unit seen (again) exchanges groups with this one: the list may have changed.
        void groupsView.refresh();
      },
      users(data) {
        state.users = data.users;
        directoryView.renderUsers(state);
        historyView.render(state);
      },
      levels(data) {
        state.levels = data;
        state.levelsEvents += 1;
        renderLevels();
      },
      gpio(data) {
        state.gpio = data;
        unitView.renderGpio(state);
        // The Open door button depends on the relay being there.
        callView.render(state);
      },
    },
    (connection) => {
      if (!live) return;
      const element = byId('connection');
      element.dataset.state = connection;
      setText(element, connection === 'live' ? 'Live' : 'Reconnecting…');
      // The stream cannot tell why it was refused: a status request can (a 401 shows the login).
      if (connection === 'reconnecting') void api.status().catch(() => undefined);
    },
  );
  void pollStatus();
}

function stopLive() {
  if (!live) return;
  state.gpio = null;
  clearTimeout(live.statusTimer);
  live.events?.close();
  live = null;
}

async function pollStatus() {
  if (!live) return;
  try {
    const askedAt = performance.now();
    state.status = await api.status();
    state.statusReceivedAt = performance.now();
    // Switched elsewhere too (another panel, Home Assistant): the poll brings it here.
    if (!switchingDnd && askedAt > dndSwitchedAt) state.doNotDisturb = state.status.doNotDisturb ?? null;
    unitView.render(state);
    renderDoNotDisturb();
    renderLevels();
    await siteView.refresh();
  } catch {
    // The connection indicator already tells; the next poll tries again.
  }
  if (live) live.statusTimer = setTimeout(pollStatus, STATUS_POLL_MS);
}

setInterval(() => {
  if (!live) return;
  callView.tick(state);
  unitView.tick(state);
}, 1000);

unitView.render(state);
directoryView.renderUsers(state);
renderCall();
void checkSession();
