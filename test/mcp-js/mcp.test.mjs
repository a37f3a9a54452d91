// Real JavaScript clients against Latchkey, run by cmd/latchkey's
// TestOfficialMCPAndOpenIDClients, which starts Latchkey, the example MCP
// server and a server of client metadata documents, and passes them here
// in the environment:
//
//   MCP_URL           the example MCP server's endpoint (its resource identifier)
//   CIMD_CLIENT_ID    the https URL of a client metadata document
//   REDIRECT_URI      the redirect URI that document (and registration) names
//   USERNAME, PASSWORD  a user of the realm
//   OTHER_TOKEN       an access token minted for another resource
//   ISSUER            the realm's issuer
//   PKJWT_CLIENT_ID, PKJWT_PRIVATE_JWK  a private_key_jwt client and its key
//   PKJWT_RESOURCE    a resource it may ask a token for
//
// The MCP TypeScript SDK is used unmodified: it meets the server's 401,
// reads its protected-resource metadata, finds Latchkey, gets a client_id
// (its metadata document's URL, or dynamic registration), and sends the
// user to sign in with PKCE and resource. The user's part is done by a
// small form-following browser: sign in, allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormBrowser as BaseFormBrowser } from '../form-browser.mjs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import * as oidc from 'openid-client';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run this through go test ./cmd/latchkey -run TestOfficialMCPAndOpenIDClients`);
  return v;
};

// An OAuthClientProvider keeping everything in memory, as a CLI would.
class MemoryProvider {
  constructor({ clientMetadataUrl } = {}) {
    this.clientMetadataUrl = clientMetadataUrl;
    this.saved = {};
    this.authorizationUrl = undefined;
  }
  get redirectUrl() { return env('REDIRECT_URI'); }
  get clientMetadata() {
    return {
      client_name: 'Latchkey MCP test client',
      redirect_uris: [env('REDIRECT_URI')],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.saved.client; }
  saveClientInformation(info) { this.saved.client = info; }
  tokens() { return this.saved.tokens; }
  saveTokens(tokens) { this.saved.tokens = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(v) { this.saved.verifier = v; }
  codeVerifier() { return this.saved.verifier; }
}

// The tests' browser (../form-browser.mjs), filling the sign-in and
// consent forms.
class FormBrowser extends BaseFormBrowser {
  // authorize signs in and allows, and returns the page the consent
  // showed and the code the redirect carries.
  async authorize(authorizationUrl) {
    const login = await this.fetch(authorizationUrl.href);
    const loginPage = await login.text();
    assert.equal(login.status, 200, loginPage);
    const signIn = FormBrowser.form(loginPage, authorizationUrl);
    signIn.fields.set('username', env('USERNAME'));
    signIn.fields.set('password', env('PASSWORD'));
    const consent = await this.post(signIn.action, signIn.fields);
    const consentPage = await consent.text();
    assert.equal(consent.status, 200, consentPage);
    assert.match(consentPage, /wants access/);
    const allow = FormBrowser.form(consentPage, authorizationUrl);
    allow.fields.set('action', 'approve');
    const done = await this.post(allow.action, allow.fields);
    assert.equal(done.status, 303, await done.text());
    const back = new URL(done.headers.get('Location'));
    assert.equal(back.origin + back.pathname, env('REDIRECT_URI'));
    assert.equal(back.searchParams.get('iss'), env('ISSUER'));
    return { consentPage, code: back.searchParams.get('code') };
  }
}

// connect runs the SDK's whole flow against the MCP server and returns the
// connected client, the provider and what the consent page said.
async function connect(provider) {
  const serverUrl = new URL(env('MCP_URL'));
  const client = new Client({ name: 'latchkey-test', version: '1.0.0' });
  const first = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  await assert.rejects(client.connect(first), UnauthorizedError, 'the first connect must need authorization');
  assert.ok(provider.authorizationUrl, 'the SDK never sent the user to sign in');
  const auth = provider.authorizationUrl;
  assert.equal(auth.searchParams.get('resource'), env('MCP_URL'), 'resource (RFC 8707) names the MCP server');
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  const { consentPage, code } = await new FormBrowser().authorize(auth);
  await first.finishAuth(code);
  const connected = new Client({ name: 'latchkey-test', version: '1.0.0' });
  await connected.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  return { client: connected, consentPage };
}

function claimsOf(token) {
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  return { ...claims, aud: [].concat(claims.aud).join(' ') };
}

test('MCP SDK: a client known by its metadata document calls a tool', async () => {
  const provider = new MemoryProvider({ clientMetadataUrl: env('CIMD_CLIENT_ID') });
  const { client, consentPage } = await connect(provider);
  try {
  assert.equal(provider.saved.client.client_id, env('CIMD_CLIENT_ID'), 'the client_id is the document URL');
  // The consent page names the document's host first: its name is only
  // what it says of itself.
  assert.match(consentPage, new RegExp(`<h1><span class="host">${new URL(env('CIMD_CLIENT_ID')).hostname}</span> wants access</h1>`));
  assert.match(consentPage, /Example tools/, 'the consent page names the resource');
  const claims = claimsOf(provider.saved.tokens.access_token);
  assert.equal(claims.aud, env('MCP_URL'));
  assert.equal(claims.client_id, env('CIMD_CLIENT_ID'));
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['greet', 'whoami']);
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  assert.equal(who.structuredContent.client_id, env('CIMD_CLIENT_ID'));
  assert.equal(who.structuredContent.audience, env('MCP_URL'));
  const hi = await client.callTool({ name: 'greet', arguments: { name: 'Latchkey' } });
  assert.equal(hi.structuredContent.greeting, 'Hello, Latchkey!');
  } finally {
    await client.close();
  }
});

test('MCP SDK: a client that registers itself calls a tool', async () => {
  const provider = new MemoryProvider();
  const { client } = await connect(provider);
  try {
    const info = provider.saved.client;
    assert.match(info.client_id, /^[0-9a-f-]{36}$/, 'dynamic registration gave a client_id');
    assert.equal(info.client_secret, undefined, 'a public client has no secret');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    assert.equal(who.structuredContent.client_id, info.client_id);
    assert.equal(who.structuredContent.audience, env('MCP_URL'));
    assert.ok(provider.saved.tokens.refresh_token, 'a refresh token');
  } finally {
    await client.close();
  }
});

test('MCP server: a token minted for another resource is refused', async () => {
  const res = await fetch(env('MCP_URL'), {
    method: 'POST',
    headers: { Authorization: `Bearer ${env('OTHER_TOKEN')}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });
  assert.equal(res.status, 401);
  const challenge = res.headers.get('WWW-Authenticate');
  assert.match(challenge, /error="invalid_token"/);
  assert.match(challenge, /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp"/);
});

test('openid-client 6: private_key_jwt, client credentials for a resource', async () => {
  const jwk = JSON.parse(env('PKJWT_PRIVATE_JWK'));
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const config = await oidc.discovery(new URL(env('ISSUER')), env('PKJWT_CLIENT_ID'), {}, oidc.PrivateKeyJwt({ key, kid: jwk.kid }),
    { execute: [oidc.allowInsecureRequests] });
  assert.ok(config.serverMetadata().token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  const tokens = await oidc.clientCredentialsGrant(config, { resource: env('PKJWT_RESOURCE') });
  const claims = claimsOf(tokens.access_token);
  assert.equal(claims.client_id, env('PKJWT_CLIENT_ID'));
  assert.equal(claims.aud, env('PKJWT_RESOURCE'));
  // Each assertion is new (its own jti): a second grant works too.
  const again = await oidc.clientCredentialsGrant(config, {});
  assert.equal(claimsOf(again.access_token).aud, env('ISSUER'));
});
