// The sign-in form: POST /api/login, then on to the page.
const form = document.getElementById('login-form');
const errorBox = document.getElementById('login-error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  errorBox.textContent = '';
  const body = JSON.stringify({
    username: document.getElementById('username').value,
    password: document.getElementById('password').value,
  });
  try {
    const r = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
      credentials: 'same-origin',
    });
    if (r.ok) {
      window.location.assign('/');
      return;
    }
    const j = await r.json().catch(() => ({}));
    errorBox.textContent = j.error || ('sign-in failed (' + r.status + ')');
  } catch (e) {
    errorBox.textContent = 'cannot reach the server';
  }
});
