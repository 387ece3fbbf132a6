// The sign-in portal clicked through by a real browser, as a person would: Debian's chromium
// driven by playwright-core. Started by tests/it/browser.rs, which runs the daemon and the test
// IdP and passes everything through the environment:
//
//   STSBRIDGE_BROWSER_URL               the portal's public URL (http://127.0.0.1:PORT)
//   STSBRIDGE_BROWSER_IDP               the IdP name offered on the sign-in page (`data-idp`)
//   STSBRIDGE_BROWSER_EXPECT            JSON: { idpDisplayName, identity, accountName,
//                                       accountId, roles: [{ arn, name }] (the picker's,
//                                       in order),
//                                       callerArn (the first role's session ARN) }
//   STSBRIDGE_BROWSER_SCREENSHOTS       a directory for one PNG per page
//   STSBRIDGE_BROWSER_CREDENTIALS_FILE  where to write the copied credential_process JSON
//   STSBRIDGE_BROWSER_CALLER_FILE       where the Rust test answers with GetCallerIdentity's ARN
//   STSBRIDGE_BROWSER_SWITCHED_FILE     where to write the switched role's credentials (the
//                                       Rust test checks that signing out revoked them)
//   STSBRIDGE_BROWSER_CHROMIUM          the browser (default /usr/bin/chromium)
//   STSBRIDGE_BROWSER_SAML_RESPONSE     optional: a signed base64 SAMLResponse for the
//                                       IdP-initiated scenario (not run without it)
//   STSBRIDGE_BROWSER_SAML_EXPECT       optional: that scenario's picker, as in _EXPECT
//                                       (default: the same as the OIDC one)
//   STSBRIDGE_BROWSER_SAML_IDP          optional: a SAML IdP offered on the sign-in page,
//                                       whose SingleSignOnService answers an AuthnRequest
//                                       at once, for the SP-initiated scenario (not run
//                                       without it); its picker is _SAML_EXPECT's
//
// Exit status 0 when every check passed; otherwise the failed check on standard error.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import {
  env,
  screenshotsIn,
  tabTo,
  timeout,
  waitForFile,
  watchedContext,
  writeWhole,
} from './common.mjs';

const url = env('STSBRIDGE_BROWSER_URL');
const idp = env('STSBRIDGE_BROWSER_IDP');
const expect = JSON.parse(env('STSBRIDGE_BROWSER_EXPECT'));
const screenshots = env('STSBRIDGE_BROWSER_SCREENSHOTS');
const credentialsFile = env('STSBRIDGE_BROWSER_CREDENTIALS_FILE');
const callerFile = env('STSBRIDGE_BROWSER_CALLER_FILE');
const switchedFile = env('STSBRIDGE_BROWSER_SWITCHED_FILE');
const executablePath = process.env.STSBRIDGE_BROWSER_CHROMIUM || '/usr/bin/chromium';
const samlResponse = process.env.STSBRIDGE_BROWSER_SAML_RESPONSE;
const samlIdp = process.env.STSBRIDGE_BROWSER_SAML_IDP;
const screenshot = screenshotsIn(screenshots);

/** The sign-in page, then the IdP (which signs the person in at once), then back. */
async function signIn(page, { keyboard }) {
  await page.goto(`${url}/signin?choose=1`);
  await page.locator('h1', { hasText: 'Sign in' }).waitFor();
  const link = page.locator(`a.idp-login[data-idp="${idp}"]`);
  assert.equal(await link.getAttribute('href'), `/signin/${idp}`);
  assert.equal((await link.textContent()).trim(), expect.idpDisplayName);
  if (keyboard) {
    await tabTo(page, `a.idp-login[data-idp="${idp}"]`);
    await screenshot(page, 'signin');
    await Promise.all([page.waitForURL(`${url}/signin/roles`), page.keyboard.press('Enter')]);
  } else {
    await Promise.all([page.waitForURL(`${url}/signin/roles`), link.click()]);
  }
}

/** The picker in AWS's markup, with the account's name shown as text, never as markup. */
async function checkPicker(page, expected = expect) {
  const form = page.locator('form#saml_form');
  await form.waitFor();
  assert.equal((await page.locator('#identity').textContent()).trim(), expected.identity);
  const account = form.locator('fieldset div.saml-account div.saml-account-name');
  assert.equal(await account.count(), 1);
  assert.equal(
    (await account.textContent()).trim(),
    `Account: ${expected.accountName} (${expected.accountId})`,
  );
  // The name has markup in it: escaped, it made no element.
  assert.equal(await account.locator('*').count(), 0, 'the account name made an element');
  const radios = form.locator('div.saml-role input.saml-radio[name="roleIndex"]');
  assert.equal(await radios.count(), expected.roles.length);
  for (const [i, role] of expected.roles.entries()) {
    const radio = radios.nth(i);
    assert.equal(await radio.getAttribute('value'), role.arn);
    assert.equal(await radio.getAttribute('id'), role.arn);
    const label = form.locator(`label.saml-role-description[for="${role.arn}"]`);
    assert.equal((await label.textContent()).trim(), role.name);
  }
  assert.ok(await radios.first().isChecked(), 'the first role is chosen by default');
  assert.ok(await page.locator('#signin_button').isVisible());
}

/** The credentials the console shows. */
async function consoleCredentials(page) {
  const text = async (id) => (await page.locator(`#${id}`).textContent()).trim();
  const shown = {
    accessKeyId: await text('access-key-id'),
    secretAccessKey: await text('secret-access-key'),
    sessionToken: await text('session-token'),
    expiration: await text('expiration'),
    roleName: await text('role-name'),
  };
  assert.match(shown.accessKeyId, /^ASIA[A-Z0-9]{16}$/);
  assert.ok(shown.secretAccessKey.length >= 40, 'a secret access key');
  assert.ok(shown.sessionToken.length > 40, 'a session token');
  assert.match(shown.expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(Date.parse(shown.expiration) > Date.now(), 'not expired');
  return shown;
}

/**
 * OIDC: sign in with the keyboard, pick a role and a duration, take the credentials from the
 * console (text and clipboard), have the Rust test use them, switch role, sign out revoking.
 */
async function oidcScenario(browser) {
  const watched = await watchedContext(browser);
  const { context } = watched;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  const page = await context.newPage();

  await signIn(page, { keyboard: true });
  await checkPicker(page);
  await screenshot(page, 'picker');

  // A person clicks the first role's label, picks two hours, and reaches the button by Tab.
  const [first, second] = expect.roles;
  await page.locator(`label[for="${first.arn}"]`).click();
  assert.ok(await page.locator(`input[id="${first.arn}"]`).isChecked());
  await page.locator('#duration').selectOption('7200');
  await page.locator('#duration').focus();
  await tabTo(page, '#signin_button');
  await Promise.all([page.waitForURL(`${url}/console`), page.keyboard.press('Enter')]);

  const shown = await consoleCredentials(page);
  assert.equal(shown.roleName, first.name);
  const left = (Date.parse(shown.expiration) - Date.now()) / 1000;
  assert.ok(left > 7000 && left <= 7200, `two hours chosen, ${left} s left`);

  // The countdown is live: it changes within two seconds.
  const countdown = page.locator('#countdown');
  const before = await countdown.textContent();
  assert.match(before, /^\(in 1 h 5\d min \d+ s\)$/);
  await page.waitForFunction(
    (previous) => document.getElementById('countdown').textContent !== previous,
    before,
    { timeout: 3000 },
  );
  await screenshot(page, 'console', { whole: true });

  // Copy the credential_process block to the clipboard, as a person takes it away.
  const copy = page.locator('button.copy[data-copy="format-credential-process"]');
  await copy.click();
  await page.locator('button.copy[data-copy="format-credential-process"]', { hasText: 'Copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const process_ = JSON.parse(copied);
  assert.equal(process_.Version, 1);
  assert.equal(process_.AccessKeyId, shown.accessKeyId);
  assert.equal(process_.SecretAccessKey, shown.secretAccessKey);
  assert.equal(process_.SessionToken, shown.sessionToken);
  assert.equal(process_.Expiration, shown.expiration);
  writeWhole(credentialsFile, copied);
  // The Rust test called GetCallerIdentity with them and wrote the ARN it was answered.
  assert.equal((await waitForFile(callerFile)).trim(), expect.callerArn);

  // Reloading shows the same credentials.
  await page.reload();
  assert.equal((await consoleCredentials(page)).accessKeyId, shown.accessKeyId);

  // Switch to the other role through the console's form.
  await page.locator('#switch-role').selectOption(second.arn);
  await Promise.all([
    page.waitForURL(`${url}/console`, { waitUntil: 'load' }),
    page.locator('#switch-role-button').click(),
  ]);
  await page.locator('#role-name', { hasText: second.name }).waitFor();
  const switched = await consoleCredentials(page);
  assert.equal(switched.roleName, second.name);
  assert.notEqual(switched.accessKeyId, shown.accessKeyId);
  writeWhole(switchedFile, JSON.stringify(switched));

  // Sign out, revoking: the sign-in page again, saying so.
  await page.locator('#revoke').check();
  await Promise.all([
    page.waitForURL(`${url}/signin?choose=1&signed_out=1`),
    page.locator('#signout_button').click(),
  ]);
  await page.locator('h1', { hasText: 'Sign in' }).waitFor();
  assert.match(await page.locator('#signed-out').textContent(), /signed out/);
  assert.ok(await page.locator(`a.idp-login[data-idp="${idp}"]`).isVisible());
  await screenshot(page, 'signed-out');
  // The console now asks to sign in.
  const gone = await page.goto(`${url}/console`);
  assert.equal(gone.status(), 401);
  assert.match(await page.locator('main').textContent(), /SessionRequired/);

  // A forged callback (no login under way in this browser): an error page that says what to do.
  const forged = await page.goto(`${url}/signin/oidc/callback?state=forged&code=forged`);
  assert.equal(forged.status(), 400);
  await page.locator('.error-message').waitFor();
  assert.match(await page.locator('.error-reference').textContent(), /LoginExpired/);
  assert.ok(await page.locator('main a[href^="/signin"]').isVisible(), 'a way back');
  await screenshot(page, 'error');
  watched.forgive(`${url}/console`, 401);
  watched.forgive(`${url}/signin/oidc/callback?state=forged`, 400);

  assert.deepEqual(watched.problems(), [], 'console errors or CSP violations');
  await context.close();
}

/** Without JavaScript the whole flow works and the console shows the credentials. */
/**
 * The login round trip as a person waits for it, measured (not asserted): the click on the IdP
 * link to the picker (the portal, the IdP, the code exchange, the ID token's verification), then
 * the click on Sign in to the console (trust, issue, durable record). Five fresh browsers; the
 * median and the slowest go to `timings.json` beside the screenshots.
 */
async function timingScenario(browser) {
  const toPicker = [];
  const toConsole = [];
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/signin?choose=1`);
    const link = page.locator(`a.idp-login[data-idp="${idp}"]`);
    let started = performance.now();
    await Promise.all([page.waitForURL(`${url}/signin/roles`), link.click()]);
    toPicker.push(performance.now() - started);
    started = performance.now();
    await Promise.all([page.waitForURL(`${url}/console`), page.locator('#signin_button').click()]);
    await page.locator('#access-key-id').waitFor();
    toConsole.push(performance.now() - started);
    await context.close();
  }
  const summary = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { median_ms: Math.round(sorted[Math.floor(sorted.length / 2)]), max_ms: Math.round(sorted[sorted.length - 1]) };
  };
  if (screenshots) {
    writeWhole(
      `${screenshots}/timings.json`,
      JSON.stringify({ login_to_picker: summary(toPicker), picker_to_console: summary(toConsole) }, null, 2),
    );
  }
}

async function noScriptScenario(browser) {
  const watched = await watchedContext(browser, { javaScriptEnabled: false });
  const page = await watched.context.newPage();
  await signIn(page, { keyboard: false });
  await checkPicker(page);
  await Promise.all([page.waitForURL(`${url}/console`), page.locator('#signin_button').click()]);
  const shown = await consoleCredentials(page);
  assert.equal(shown.roleName, expect.roles[0].name);
  assert.ok(await page.locator('#format-credential-process').isVisible());
  assert.equal(await page.locator('#countdown').textContent(), '', 'no script, no countdown');
  assert.equal(await page.locator('button.copy:visible').count(), 0, 'no copy button that cannot copy');
  await screenshot(page, 'console-no-javascript', { whole: true });
  assert.deepEqual(watched.problems(), [], 'console errors without JavaScript');
  await watched.context.close();
}

/**
 * SAML, IdP-initiated: the IdP's page auto-submits the signed response to `<url>/saml` (a
 * cross-site POST, served here from a fake https IdP origin: Chromium sends it with
 * `Origin: null`, an https page posting to plain http, as it does from an IdP page with
 * `Referrer-Policy: no-referrer`; the ACS must accept it, as AWS's does), the picker shows, the
 * role is chosen, the console shows the credentials.
 */
async function samlScenario(browser, response, expected) {
  const watched = await watchedContext(browser);
  const { context } = watched;
  const idpPage = 'https://idp.example/sso/post';
  await context.route(idpPage, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><html><body>
<form id="to-sp" method="post" action="${url}/saml">
<input type="hidden" name="SAMLResponse" value="${response}">
</form>
<script>document.getElementById('to-sp').submit();</script>
</body></html>`,
    }),
  );
  const page = await context.newPage();
  await Promise.all([page.waitForURL(`${url}/saml`), page.goto(idpPage)]);
  await checkPicker(page, expected);
  await screenshot(page, 'saml-picker');

  // The second role, by its label; the assertion's SessionDuration (two hours) caps the session.
  const chosen = expected.roles[1] ?? expected.roles[0];
  await page.locator(`label[for="${chosen.arn}"]`).click();
  await Promise.all([page.waitForURL(`${url}/console`), page.locator('#signin_button').click()]);
  const shown = await consoleCredentials(page);
  assert.equal(shown.roleName, chosen.name);
  const left = (Date.parse(shown.expiration) - Date.now()) / 1000;
  assert.ok(left > 0 && left <= 7200, `within the assertion's SessionDuration, ${left} s left`);
  const identity = (await page.locator('#identity').textContent()).trim();
  assert.ok(identity.startsWith(expected.identity), `signed in as ${identity}`);
  await screenshot(page, 'saml-console');

  // Sign out: the sign-in page, and the console asks to sign in again.
  await Promise.all([
    page.waitForURL(`${url}/signin?choose=1&signed_out=1`),
    page.locator('#signout_button').click(),
  ]);
  await page.locator('h1', { hasText: 'Sign in' }).waitFor();
  const gone = await page.goto(`${url}/console`);
  assert.equal(gone.status(), 401);
  watched.forgive(`${url}/console`, 401);

  assert.deepEqual(watched.problems(), [], 'console errors or CSP violations');
  await context.close();
}

/**
 * SAML, SP-initiated: the sign-in page's link to the SAML IdP sends the browser there with an
 * AuthnRequest; the IdP (another site: `localhost` against the portal's 127.0.0.1) signs the
 * person in at once and its page posts the answer to `<url>/saml`, which matches it to this
 * browser's AuthnRequest (the login cookie, `SameSite=None`, comes with the cross-site POST);
 * the picker, the first role, the console.
 */
async function samlSpScenario(browser, name, expected) {
  const watched = await watchedContext(browser);
  const page = await watched.context.newPage();
  await page.goto(`${url}/signin?choose=1`);
  const link = page.locator(`a.idp-login[data-idp="${name}"]`);
  assert.equal(await link.getAttribute('href'), `/signin/${name}`);
  await Promise.all([page.waitForURL(`${url}/saml`), link.click()]);
  await checkPicker(page, expected);
  await screenshot(page, 'saml-sp-picker');
  await Promise.all([page.waitForURL(`${url}/console`), page.locator('#signin_button').click()]);
  const shown = await consoleCredentials(page);
  assert.equal(shown.roleName, expected.roles[0].name);
  assert.deepEqual(watched.problems(), [], 'console errors or CSP violations');
  await watched.context.close();
}

mkdirSync(screenshots, { recursive: true });
const started = Date.now();
const browser = await chromium.launch({ executablePath, timeout });
const version = browser.version();
try {
  await oidcScenario(browser);
  await noScriptScenario(browser);
  await timingScenario(browser);
  if (samlResponse) {
    const expected = process.env.STSBRIDGE_BROWSER_SAML_EXPECT;
    await samlScenario(browser, samlResponse, expected ? JSON.parse(expected) : expect);
  } else {
    console.log('no STSBRIDGE_BROWSER_SAML_RESPONSE: the SAML scenario was not run');
  }
  if (samlIdp) {
    const expected = process.env.STSBRIDGE_BROWSER_SAML_EXPECT;
    await samlSpScenario(browser, samlIdp, expected ? JSON.parse(expected) : expect);
  } else {
    console.log('no STSBRIDGE_BROWSER_SAML_IDP: the SP-initiated SAML scenario was not run');
  }
} finally {
  await browser.close();
}
console.log(`chromium ${version}: every check passed in ${Date.now() - started} ms`);
