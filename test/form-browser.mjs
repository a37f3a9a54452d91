// FormBrowser is the browser the JavaScript conformance tests play a
// person with: it keeps cookies, follows nothing by itself, and reads and
// posts the server's forms. Each test folder extends it with the pages
// its flows go through.
import assert from 'node:assert/strict';

export class FormBrowser {
  constructor() { this.cookies = new Map(); }
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.cookies.size) {
      headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  // form reads the page's form: its action and hidden fields.
  static form(html, base) {
    const action = html.match(/<form[^>]*action="([^"]+)"/);
    assert.ok(action, `no form on the page:\n${html}`);
    const fields = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
      fields.set(m[1], m[2].replaceAll('&#43;', '+').replaceAll('&amp;', '&').replaceAll('&#61;', '='));
    }
    return { action: new URL(action[1].replaceAll('&amp;', '&'), base).href, fields };
  }
  async post(action, fields) {
    return this.fetch(action, { method: 'POST', body: fields, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  }
}
