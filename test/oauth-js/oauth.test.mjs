// Real JavaScript OAuth clients against Latchkey, run by cmd/latchkey's
// TestOpenIDClientAndOAuth4WebAPI, which starts Latchkey and a resource
// server protected by realms/verifier, and passes them here in the
// environment:
//
//   ISSUER                 the realm's issuer; the realm requires DPoP nonces
//   USERNAME, PASSWORD     a user of the realm
//   REDIRECT_URI           the redirect URI of the PAR client
//   DEVICE_CLIENT_ID       a public client allowed the device grant
//   PAR_CLIENT_ID, PAR_CLIENT_SECRET  a confidential client that must push its requests
//   CC_CLIENT_ID, CC_CLIENT_SECRET    a service client whose tokens are DPoP-bound
//   RS_RESOURCE            the resource server's identifier (RFC 8707)
//   RS_URL                 a URL of it that needs scope read
//
// The libraries are used unmodified, with their own DPoP implementation
// (the DPoP() handles): keys made by them, proofs signed by them, nonces
// they cache and retry with. The user's part is played by a small
// form-following browser: enter the code, sign in, allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormBrowser as BaseFormBrowser } from '../form-browser.mjs';

import * as oidc from 'openid-client';
import * as oauth from 'oauth4webapi';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run this through go test ./cmd/latchkey -run TestOpenIDClientAndOAuth4WebAPI`);
  return v;
};

// The tests' browser (../form-browser.mjs), filling the forms of the
// verification, sign-in and consent pages.
class FormBrowser extends BaseFormBrowser {
  // signInAndAllow fills the sign-in page and allows on the consent page;
  // it returns the answer to the consent.
  async signInAndAllow(loginPage, base) {
    const signIn = FormBrowser.form(loginPage, base);
    signIn.fields.set('username', env('USERNAME'));
    signIn.fields.set('password', env('PASSWORD'));
    const consent = await this.post(signIn.action, signIn.fields);
    const consentPage = await consent.text();
    assert.equal(consent.status, 200, consentPage);
    assert.match(consentPage, /wants access/);
    const allow = FormBrowser.form(consentPage, base);
    allow.fields.set('action', 'approve');
    return this.post(allow.action, allow.fields);
  }
  // authorize signs in and allows, and returns the URL the browser is
  // sent back to.
  async authorize(authorizationUrl) {
    const login = await this.fetch(authorizationUrl.href);
    const loginPage = await login.text();
    assert.equal(login.status, 200, loginPage);
    const done = await this.signInAndAllow(loginPage, authorizationUrl);
    assert.equal(done.status, 303, await done.text());
    return new URL(done.headers.get('Location'));
  }
  // enterCode opens the verification page, types the code, signs in and
  // allows; it returns the last page's text.
  async enterCode(verificationUri, userCode) {
    const page = await this.fetch(verificationUri);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const form = FormBrowser.form(html, verificationUri);
    form.fields.set('user_code', userCode);
    const login = await this.post(form.action, form.fields);
    const loginPage = await login.text();
    assert.equal(login.status, 200, loginPage);
    assert.match(loginPage, /Sign in/);
    const done = await this.signInAndAllow(loginPage, verificationUri);
    const last = await done.text();
    assert.equal(done.status, 200, last);
    return last;
  }
}

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

// countingFetch counts the token endpoint's use_dpop_nonce answers: the
// nonce challenge each library must meet once, then not again while the
// nonce it cached is fresh.
function countingFetch() {
  const counter = { nonceChallenges: 0 };
  counter.fetch = async (url, init) => {
    const res = await fetch(url, init);
    if (res.status === 400 && res.headers.has('dpop-nonce')) {
      const body = await res.clone().json().catch(() => ({}));
      if (body.error === 'use_dpop_nonce') counter.nonceChallenges++;
    }
    return res;
  };
  return counter;
}

const insecure = { execute: [oidc.allowInsecureRequests] };

test('openid-client 6: device flow with DPoP, the user on the verification page, userinfo with a proof', async () => {
  const counter = countingFetch();
  const config = await oidc.discovery(new URL(env('ISSUER')), env('DEVICE_CLIENT_ID'), {}, oidc.None(), insecure);
  config[oidc.customFetch] = counter.fetch;
  const md = config.serverMetadata();
  assert.equal(md.device_authorization_endpoint, `${env('ISSUER')}/protocol/openid-connect/auth/device`);
  assert.deepEqual(md.dpop_signing_alg_values_supported, ['ES256', 'RS256', 'EdDSA', 'Ed25519']);
  assert.ok(md.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));

  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
  const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
  assert.match(device.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(device.verification_uri, `${env('ISSUER')}/device`);
  assert.equal(device.interval, 5);
  assert.equal(device.expires_in, 600);

  // The device polls while the user, elsewhere, enters the code as people
  // do: in lower case, without the dash.
  const polling = oidc.pollDeviceAuthorizationGrant(config, device, undefined, { DPoP });
  const last = await new FormBrowser().enterCode(device.verification_uri, device.user_code.replace('-', '').toLowerCase());
  assert.match(last, /return to your device/);
  const tokens = await polling;
  assert.equal(tokens.token_type, 'dpop');
  const claims = claimsOf(tokens.access_token);
  assert.ok(claims.cnf?.jkt, 'the access token is bound to the key (cnf.jkt)');
  assert.equal(counter.nonceChallenges, 1, 'one use_dpop_nonce challenge, met by the library');

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  assert.equal(info.sub, claims.sub);
  assert.equal(info.preferred_username, env('USERNAME'));
  // Without its proof the token is refused, in the scheme it needs.
  const asBearer = await fetch(md.userinfo_endpoint, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(asBearer.status, 401);
  assert.match(asBearer.headers.get('www-authenticate'), /^DPoP /);
});

test('openid-client 6: pushed authorization request, code flow with PKCE and DPoP, the resource server', async () => {
  const config = await oidc.discovery(new URL(env('ISSUER')), env('PAR_CLIENT_ID'), {}, oidc.ClientSecretBasic(env('PAR_CLIENT_SECRET')), insecure);
  const md = config.serverMetadata();
  assert.equal(md.pushed_authorization_request_endpoint, `${env('ISSUER')}/protocol/openid-connect/ext/par/request`);

  // An Ed25519 key: the library signs its proofs with alg Ed25519 (RFC 9864).
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('Ed25519'));
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const params = {
    redirect_uri: env('REDIRECT_URI'), scope: 'openid read', state, resource: env('RS_RESOURCE'),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  };
  // This client must push: the same request sent plainly is refused.
  const plain = await fetch(oidc.buildAuthorizationUrl(config, params), { redirect: 'manual' });
  assert.equal(plain.status, 302, await plain.text());
  const refused = new URL(plain.headers.get('location'));
  assert.equal(refused.origin + refused.pathname, env('REDIRECT_URI'));
  assert.equal(refused.searchParams.get('error'), 'invalid_request');
  assert.equal(refused.searchParams.get('code'), null);

  // Pushed with a proof, the code is bound to the key (RFC 9449 §10.1).
  const authUrl = await oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP });
  assert.deepEqual([...authUrl.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  assert.match(authUrl.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
  const back = await new FormBrowser().authorize(authUrl);
  assert.equal(back.searchParams.get('iss'), env('ISSUER'));
  const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  const claims = claimsOf(tokens.access_token);
  assert.deepEqual([].concat(claims.aud), [env('RS_RESOURCE')]);
  assert.ok(claims.cnf?.jkt);
  // The request_uri worked once.
  const again = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(again.status, 400);

  // The resource server (realms/verifier) takes the token with the
  // library's proof of this request.
  const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(env('RS_URL')), 'GET', null, undefined, { DPoP });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).client_id, env('PAR_CLIENT_ID'));
  // Another key's proof with the same token is the thief's: refused.
  const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
  await assert.rejects(oidc.fetchProtectedResource(config, tokens.access_token, new URL(env('RS_URL')), 'GET', null, undefined, { DPoP: thief }),
    (err) => err.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' && err.cause[0].scheme === 'dpop' && err.cause[0].parameters.error === 'invalid_token');
});

test('oauth4webapi 3: client credentials with DPoP, the nonce challenge, the resource server verifies proofs', async () => {
  const issuer = new URL(env('ISSUER'));
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', [oauth.allowInsecureRequests]: true }));
  const client = { client_id: env('CC_CLIENT_ID') };
  const clientAuth = oauth.ClientSecretBasic(env('CC_CLIENT_SECRET'));
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('RS256'));
  const opts = { DPoP, [oauth.allowInsecureRequests]: true };

  // As the library's documentation does it: a use_dpop_nonce answer is
  // retried once, with the nonce the handle cached from it.
  const grant = async () => {
    const params = new URLSearchParams({ scope: 'read', resource: env('RS_RESOURCE') });
    let challenges = 0;
    for (;;) {
      const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, params, opts);
      try {
        return { result: await oauth.processClientCredentialsResponse(as, client, response), challenges };
      } catch (err) {
        if (challenges === 0 && oauth.isDPoPNonceError(err)) {
          challenges++;
          continue;
        }
        throw err;
      }
    }
  };
  const first = await grant();
  assert.equal(first.challenges, 1, 'the first request meets the nonce challenge');
  assert.equal(first.result.token_type, 'dpop');
  const second = await grant();
  assert.equal(second.challenges, 0, 'the cached nonce is good for the next request');

  const token = first.result.access_token;
  const res = await oauth.protectedResourceRequest(token, 'GET', new URL(env('RS_URL')), new Headers(), null, opts);
  assert.equal(res.status, 200);
  assert.equal((await res.json()).client_id, env('CC_CLIENT_ID'));

  // The same token as Bearer is refused with a DPoP challenge.
  const challenged = (err) => {
    assert.equal(err.code, 'OAUTH_WWW_AUTHENTICATE_CHALLENGE');
    assert.equal(err.cause[0].scheme, 'dpop');
    assert.equal(err.cause[0].parameters.algs, 'ES256 RS256 EdDSA Ed25519');
    return err.cause[0].parameters.error;
  };
  await assert.rejects(oauth.protectedResourceRequest(token, 'GET', new URL(env('RS_URL')), new Headers(), null, { [oauth.allowInsecureRequests]: true }),
    (err) => challenged(err) === 'invalid_token');
  // A proof for another URL of the server is refused as a proof.
  const elsewhere = new URL(env('RS_URL'));
  elsewhere.pathname = '/elsewhere';
  const proofForElsewhere = await proofFrom(DPoP, token, elsewhere);
  const misdirected = await fetch(env('RS_URL'), { headers: { Authorization: `DPoP ${token}`, DPoP: proofForElsewhere } });
  assert.equal(misdirected.status, 401);
  assert.match(misdirected.headers.get('www-authenticate'), /^DPoP .*error="invalid_dpop_proof"/);
});

// proofFrom has the library make the proof it would send with token to
// url, by catching the request it makes.
async function proofFrom(DPoP, token, url) {
  let proof;
  await oauth.protectedResourceRequest(token, 'GET', url, new Headers(), null, {
    DPoP, [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: async (_, init) => {
      proof = new Headers(init.headers).get('dpop');
      return new Response(null, { status: 204 });
    },
  });
  return proof;
}
