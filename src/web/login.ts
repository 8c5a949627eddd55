/** The sign-in page: POST /api/login with name and password; the answer's CSRF token stays in memory. */
import { call, HttpError, type Session } from './api.js';
import { h, replace } from './dom.js';

/** Renders the sign-in form into `root`; `done` gets the new session. */
export function renderLogin(root: HTMLElement, done: (s: Session) => void, notice?: string): void {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, maxlength: 64 });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 });
  const message = h('p', { id: 'login-message', class: 'error', role: 'alert' }, notice ?? '');
  const button = h('button', { id: 'login-submit', type: 'submit' }, 'Sign in');
  const form = h('form', { id: 'login-form', class: 'card narrow', method: 'post', action: '/' },
    h('h1', {}, 'Sign in to Warden'),
    h('label', {}, 'User name', user),
    h('label', {}, 'Password', pass),
    button,
    message,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    button.disabled = true;
    message.textContent = '';
    call<Session>('POST', '/api/login', { username: user.value, password: pass.value })
      .then(({ data }) => done(data))
      .catch((err: unknown) => {
        message.textContent = err instanceof HttpError && err.status === 401 ? 'Invalid user name or password.' : (err as Error).message;
        pass.value = '';
        pass.focus();
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  replace(root, form);
  user.focus();
}
