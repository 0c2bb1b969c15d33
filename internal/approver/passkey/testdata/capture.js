// What an attacker holding the page would do: ask for a challenge and get
// a real signed answer from the authenticator, without submitting it. The
// tests then post it where it does not belong.
//
// beginPath: the /approve/{id}/begin path; decision: "approve" or "deny";
// allow: null to use the server's allowCredentials, or a list of base64url
// credential ids (an empty list lets any discoverable credential answer).
async (beginPath, decision, allow) => {
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0)).buffer;
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const resp = await fetch(beginPath, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ decision }),
  });
  if (!resp.ok) throw new Error('begin: ' + resp.status + ' ' + (await resp.text()));
  const pk = (await resp.json()).publicKey;
  pk.challenge = dec(pk.challenge);
  pk.allowCredentials = allow === null
    ? (pk.allowCredentials || []).map((d) => ({ ...d, id: dec(d.id) }))
    : allow.map((id) => ({ type: 'public-key', id: dec(id) }));
  const cred = await navigator.credentials.get({ publicKey: pk });
  const r = cred.response;
  return JSON.stringify({
    id: cred.id,
    rawId: enc(cred.rawId),
    type: cred.type,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: {
      clientDataJSON: enc(r.clientDataJSON),
      authenticatorData: enc(r.authenticatorData),
      signature: enc(r.signature),
      userHandle: r.userHandle ? enc(r.userHandle) : undefined,
    },
  });
}
