// Passkeys (WebAuthn): registering one on /account and using it at the second-factor step of a sign-in.
// The server (org/passkey_pages.py) sends the options as JSON with binary fields in base64url; this turns them
// into ArrayBuffers for navigator.credentials and the authenticator's answer back into base64url JSON.
(function () {
  "use strict";
  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function credentialJson(cred) {
    var r = cred.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) { response.attestationObject = toText(r.attestationObject); }
    if (r.authenticatorData) { response.authenticatorData = toText(r.authenticatorData); }
    if (r.signature) { response.signature = toText(r.signature); }
    if (r.userHandle) { response.userHandle = toText(r.userHandle); }
    return { id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response,
             clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {} };
  }
  function post(url, csrf, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body) }).then(function (res) {
        return res.json().then(function (data) {
          if (!res.ok) { throw new Error((data.error && data.error.message) || res.statusText); }
          return data;
        });
      });
  }
  function fail(status, error) { status.textContent = error.message || String(error); status.hidden = false; }

  var add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("submit", function (event) {
      event.preventDefault();
      var csrf = add.querySelector("[name=csrf_token]").value, status = document.getElementById("passkey-status");
      post("/account/passkeys/options", csrf).then(function (options) {
        var pk = options.publicKey;
        pk.challenge = toBytes(pk.challenge);
        pk.user.id = toBytes(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({ publicKey: pk });
      }).then(function (cred) {
        var name = add.querySelector("[name=name]").value;
        return post("/account/passkeys", csrf, { credential: credentialJson(cred), name: name });
      }).then(function () { window.location.assign("/account?passkey=added#passkeys"); })
        .catch(function (error) { fail(status, error); });
    });
  }
  var use = document.getElementById("passkey-use");
  if (use) {
    use.addEventListener("click", function () {
      var csrf = use.getAttribute("data-csrf"), status = document.getElementById("passkey-status");
      post("/login/passkey/options", csrf).then(function (options) {
        var pk = options.publicKey;
        pk.challenge = toBytes(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (cred) {
        return post("/login/passkey", csrf, { credential: credentialJson(cred) });
      }).then(function (answer) { window.location.assign(answer.next); })
        .catch(function (error) { fail(status, error); });
    });
  }
})();
