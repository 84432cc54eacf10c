/**
 * The unit's live event stream (/api/events). EventSource reconnects by itself after a dropped
 * connection; when the server refuses the stream outright (it then closes for good) we open a
 * new one after a pause. Every (re)connect starts with a `hello` carrying the whole state, so
 * nothing missed while disconnected stays stale.
 */

const RETRY_AFTER_CLOSE_MS = 3000;
const EVENT_NAMES = ['hello', 'call', 'stats', 'peers', 'users', 'gpio', 'levels'];

/**
 * @param {string} url
 * @param {Record<string, (data: any) => void>} handlers keyed by event name
 * @param {(state: 'live' | 'reconnecting') => void} onConnection
 */
export function connectEvents(url, handlers, onConnection) {
  let source = null;
  let retryTimer = null;

  const open = () => {
    source = new EventSource(url);
    source.addEventListener('open', () => onConnection('live'));
    source.addEventListener('error', () => {
      onConnection('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        clearTimeout(retryTimer);
        retryTimer = setTimeout(open, RETRY_AFTER_CLOSE_MS);
      }
    });
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        handlers[name]?.(data);
      });
    }
  };
  open();

  return {
    close() {
      clearTimeout(retryTimer);
      source?.close();
    },
  };
}
