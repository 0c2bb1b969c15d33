// The WebAuthn calls of Gatekeeper's passkey pages. No framework, no
// network access beyond this page's own origin (the CSP allows nothing else).
'use strict';
(() => {
  const status = document.getElementById('status');

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // base64url <-> ArrayBuffer: the server speaks JSON, WebAuthn speaks bytes.
  function decode(s) {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  }
  function encode(buf) {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function descriptors(list) {
    return (list || []).map((d) => ({ ...d, id: decode(d.id) }));
  }

  function credentialJSON(cred) {
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: { clientDataJSON: encode(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) out.response.userHandle = encode(r.userHandle);
    }
    return out;
  }

  async function post(url, body) {
    const resp = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
    let data = {};
    try {
      data = await resp.json();
    } catch (e) {
      // An empty or non-JSON answer: the status says enough.
    }
    if (!resp.ok) {
      const err = new Error(data.error || resp.status + ' ' + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function keyError(e) {
    if (e && e.name === 'NotAllowedError') {
      return 'The key did not answer (cancelled, timed out, or not a registered key). Nothing was changed.';
    }
    return (e && e.message) || String(e);
  }

  // The endpoints hang below the page's own path, so the pages work
  // wherever the handler is mounted.
  const here = location.pathname.replace(/\/+$/, '');

  function approvePage() {
    const buttons = document.querySelectorAll('button[data-decision]');
    for (const button of buttons) {
      button.addEventListener('click', async () => {
        const decision = button.dataset.decision;
        buttons.forEach((b) => { b.disabled = true; });
        show('working', 'Answering "' + decision + '": use your passkey or security key…');
        try {
          const options = await post(here + '/begin', { decision });
          const pk = options.publicKey;
          pk.challenge = decode(pk.challenge);
          pk.allowCredentials = descriptors(pk.allowCredentials);
          const cred = await navigator.credentials.get({ publicKey: pk });
          const result = await post(here + '/finish', { decision, credential: credentialJSON(cred) });
          show(result.state, result.message);
          document.querySelector('.actions')?.remove();
        } catch (e) {
          if (e.status === 410) {
            show('expired', e.message);
            document.querySelector('.actions')?.remove();
            return;
          }
          show('error', keyError(e));
          buttons.forEach((b) => { b.disabled = false; });
        }
      });
    }
  }

  function registerPage() {
    const form = document.getElementById('register');
    if (!form) return;
    // Keep the enroll token out of the address bar and the history.
    if (location.search) history.replaceState(null, '', location.pathname);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const submit = form.querySelector('button');
      submit.disabled = true;
      show('working', 'Registering: use your passkey or security key…');
      try {
        const options = await post(here + '/begin', {
          token: form.elements.token.value,
          name: form.elements.name.value,
        });
        const pk = options.publicKey;
        pk.challenge = decode(pk.challenge);
        pk.user.id = decode(pk.user.id);
        pk.excludeCredentials = descriptors(pk.excludeCredentials);
        const cred = await navigator.credentials.create({ publicKey: pk });
        const result = await post(here + '/finish', { session: options.session, credential: credentialJSON(cred) });
        form.elements.token.value = '';
        show(result.state, result.message);
      } catch (e) {
        show('error', keyError(e));
      } finally {
        submit.disabled = false;
      }
    });
  }

  if (!window.PublicKeyCredential) {
    show('error', 'This browser does not support passkeys here (WebAuthn needs https or localhost).');
    return;
  }
  if (document.body.dataset.page === 'approve') approvePage();
  if (document.body.dataset.page === 'register') registerPage();
})();
