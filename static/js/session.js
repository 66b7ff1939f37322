// The viewer's login as the page sees it: whether this dashboard has one
// (GET /api/session), the "Log out" button when it does, and the way back to
// /login once the session has ended, by expiry or by a logout in another tab
// (close code 4401, docs/protocol.md).

export const CLOSE_SESSION_ENDED = 4401;
const GONE = 'gone';

export class Session {
  /** logoutForm: the page's log-out form, or null (a custom page without one). */
  constructor(logoutForm) {
    this.logoutForm = logoutForm;
    this.login = null; // null until the server has said; then true or false
    // Logging out closes this page's own socket too (4401): the form's
    // navigation to /login is then under way and must not be cut short.
    this.leaving = false;
    logoutForm?.addEventListener('submit', () => {
      this.leaving = true;
    });
  }

  /** Asks the server whether login is on; shows the button if it is. */
  async load() {
    const answer = await this.ask();
    if (answer === GONE) {
      this.toLogin();
    } else if (answer) {
      this.login = answer.login === true;
      if (this.logoutForm) this.logoutForm.hidden = !this.login;
    }
  }

  /**
   * Whether the connection may try again after closing with `code`; false
   * when the session has ended, and the page is on its way to /login.
   */
  async mayRetry(code) {
    if (this.leaving) return false;
    if (code === CLOSE_SESSION_ENDED) {
      this.toLogin();
      return false;
    }
    if (this.login === false) return true;
    // A handshake refused with 401 reaches the page only as a failed
    // connection, without its status: ask the server what became of the session.
    if ((await this.ask()) === GONE) {
      this.toLogin();
      return false;
    }
    return true;
  }

  /** The server's answer, GONE for a session it no longer knows, or null if it did not answer. */
  async ask() {
    try {
      const response = await fetch('/api/session', { cache: 'no-store', credentials: 'same-origin' });
      if (response.status === 401) return GONE;
      return response.ok ? await response.json() : null;
    } catch {
      return null; // the server is unreachable: the session may well be fine
    }
  }

  toLogin() {
    if (this.leaving) return;
    this.leaving = true;
    location.replace('/login');
  }
}
