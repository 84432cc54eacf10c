import type { CallService, CallSnapshot } from '../calls/call-service.js';
import type { CallControl, PanelCallState } from './call-buttons.js';

/** The parts of CallService the front panel uses (CallService itself fits: see callControlForService). */
export interface PanelCallService {
  current(): CallSnapshot | null;
  initiate(from: string, to: string): Promise<CallSnapshot>;
  accept(callId: string): Promise<CallSnapshot>;
  end(callId: string): CallSnapshot;
  on(event: 'call', listener: (call: CallSnapshot) => void): unknown;
  off(event: 'call', listener: (call: CallSnapshot) => void): unknown;
}

/** How the panel sees a call snapshot. */
export function panelStateOf(call: CallSnapshot | null): PanelCallState {
  if (!call || call.phase === 'ended') return 'idle';
  if (call.phase === 'active') return 'active';
  return call.direction === 'incoming' ? 'ringing-in' : 'ringing-out';
}

/**
 * Backs the panel's CallControl with the call service. `caller` names the local user a CALL
 * press calls from (a unit's buttons act for the unit, and calls are placed by users).
 */
export function callControlFor(service: PanelCallService, caller: () => string | undefined): CallControl {
  const live = (wanted: PanelCallState[]): CallSnapshot => {
    const call = service.current();
    const state = panelStateOf(call);
    if (!call || !wanted.includes(state)) throw new Error(`no ${wanted.join(' or ')} call (the unit is ${state})`);
    return call;
  };
  return {
    state: () => panelStateOf(service.current()),
    async initiate(to) {
      const from = caller();
      if (!from) throw new Error('no user is registered on this unit to call from');
      return service.initiate(from, to);
    },
    accept: async () => service.accept(live(['ringing-in']).id),
    reject: async () => service.end(live(['ringing-in']).id),
    hangUp: async () => service.end(live(['active', 'ringing-out']).id),
    onChange(listener) {
      let last = panelStateOf(service.current());
      const onCall = () => {
        const state = panelStateOf(service.current());
        if (state === last) return;
        last = state;
        listener(state);
      };
      service.on('call', onCall);
      return () => {
        service.off('call', onCall);
      };
    },
  };
}

/** callControlFor the real CallService (and the compile-time proof that it fits PanelCallService). */
export function callControlForService(service: CallService, caller: () => string | undefined): CallControl {
  return callControlFor(service, caller);
}
