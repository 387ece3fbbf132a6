// The SSO device flow's verification page and the authorization code flow's consent, clicked
// through by a real browser (Debian's chromium, driven by playwright-core), as a person at a
// terminal does after `aws sso login`. Started by tests/it/browser.rs, which runs the daemon,
// the test IdP, the SDK's side of both flows and the CLI's loopback listener, and passes
// everything through the environment:
//
//   STSBRIDGE_BROWSER_URL            the portal's public URL (http://127.0.0.1:PORT)
//   STSBRIDGE_BROWSER_DEVICE_EXPECT  JSON: { identity (who the test IdP signs in),
//                                    approve: { userCode, clientName } (typed on the code
//                                    entry form, allowed),
//                                    deny: { userCode, clientName, complete } (its
//                                    verificationUriComplete, opened and denied),
//                                    authorize: { url, callback, clientName } (the authorize
//                                    URL and the loopback callback it redirects to, allowed) }
//   STSBRIDGE_BROWSER_APPROVED_FILE  written once the first code is approved: the Rust test
//                                    then polls CreateToken for the tokens
//   STSBRIDGE_BROWSER_SCREENSHOTS    a directory for one PNG per page (device-*.png)
//   STSBRIDGE_BROWSER_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Exit status 0 when every check passed; otherwise the failed check on standard error.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import {
  checkAccessibility,
  env,
  screenshotsIn,
  tabTo,
  timeout,
  watchedContext,
  writeWhole,
} from './common.mjs';

const url = env('STSBRIDGE_BROWSER_URL');
const expect = JSON.parse(env('STSBRIDGE_BROWSER_DEVICE_EXPECT'));
const approvedFile = env('STSBRIDGE_BROWSER_APPROVED_FILE');
const screenshots = env('STSBRIDGE_BROWSER_SCREENSHOTS');
const executablePath = process.env.STSBRIDGE_BROWSER_CHROMIUM || '/usr/bin/chromium';
const screenshot = screenshotsIn(screenshots);
const origin = new URL(url).origin;

const text = async (page, selector) => (await page.locator(selector).textContent()).trim();
const onDevicePage = (withCode) => (u) =>
  u.origin === origin && u.pathname === '/device' && u.searchParams.has('user_code') === withCode;

/**
 * The confirm page: who asks, with which code, from where, when, until when; for a device
 * code, the warning against phishing. `facts` are the expected client name, user code (none
 * for the authorization code flow) and where the request came from.
 */
async function checkConsent(page, { clientName, userCode, requestedFrom }) {
  await page.locator('form#consent_form').waitFor();
  assert.equal(await text(page, 'h1'), `Allow ${clientName} to use your access?`);
  assert.equal(await text(page, '#identity'), expect.identity);
  assert.equal(await text(page, '#client-name'), clientName);
  assert.match(await text(page, '#requested-from'), requestedFrom);
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
  const at = await text(page, '#requested-at');
  const until = await text(page, '#access-until');
  assert.match(at, iso);
  assert.match(until, iso);
  assert.ok(Date.parse(until) > Date.parse(at), `access until ${until}, after ${at}`);
  if (userCode) {
    assert.equal(await text(page, '#user-code'), userCode);
    assert.ok(await page.locator('#phishing-warning').isVisible(), 'the phishing warning shows');
  } else {
    assert.equal(await page.locator('#user-code').count(), 0, 'no code without a device');
    assert.equal(await page.locator('#phishing-warning').count(), 0);
  }
  assert.ok(await page.locator('#allow_button').isVisible());
  assert.ok(await page.locator('#deny_button').isVisible());
  await checkAccessibility(page);
}

/** The done page says `outcome`. */
async function checkDone(page, outcome) {
  const heading = page.locator(`h1#outcome[data-outcome="${outcome}"]`);
  await heading.waitFor();
  assert.ok((await heading.textContent()).trim().length > 0);
  await checkAccessibility(page);
}

/**
 * The device code typed by a person: `/device` signs them in at the IdP first and comes back
 * to the code entry form; the code typed in lower case without its hyphen; the confirm page;
 * Allow; the done page.
 */
async function approveTypedCode(page) {
  const { userCode, clientName } = expect.approve;
  await page.goto(`${url}/device`);
  await page.waitForURL(onDevicePage(false));
  await page.locator('form#device_form').waitFor();
  assert.equal(await text(page, '#identity'), expect.identity);
  assert.equal(await text(page, 'label[for="user_code"]'), 'Code');
  await checkAccessibility(page);
  await tabTo(page, '#user_code');
  await page.keyboard.type(userCode.replace('-', '').toLowerCase());
  await screenshot(page, 'device-code');
  await tabTo(page, '#next_button');
  await Promise.all([page.waitForURL(onDevicePage(true)), page.keyboard.press('Enter')]);

  await checkConsent(page, { clientName, userCode, requestedFrom: /^127\.0\.0\.1$/ });
  await screenshot(page, 'device-confirm');
  await Promise.all([page.waitForURL(`${url}/device`), page.locator('#allow_button').click()]);
  await checkDone(page, 'approved');
  await screenshot(page, 'device-approved');
  writeWhole(approvedFile, userCode);
}

/** The verification link a terminal prints, opened while signed in: Deny. */
async function denyLink(page) {
  const { userCode, clientName, complete } = expect.deny;
  await page.goto(complete);
  await checkConsent(page, { clientName, userCode, requestedFrom: /^127\.0\.0\.1$/ });
  await Promise.all([page.waitForURL(`${url}/device`), page.locator('#deny_button').click()]);
  await checkDone(page, 'denied');
  await screenshot(page, 'device-denied');
}

/**
 * The authorization code flow's consent (`aws sso login` without `--use-device-code`): the
 * authorize URL, the same confirm page naming the loopback port, Allow, and the CLI's
 * listener on 127.0.0.1 answers.
 */
async function allowAuthorize(page) {
  const { url: authorize, callback, clientName } = expect.authorize;
  const port = new URL(callback).port;
  await page.goto(authorize);
  await checkConsent(page, {
    clientName,
    requestedFrom: new RegExp(`listening on port ${port}\\)$`),
  });
  assert.ok(await page.locator('p.hint').isVisible(), 'says where the credentials go');
  await screenshot(page, 'device-authorize');
  await Promise.all([
    page.waitForURL((u) => `${u.origin}${u.pathname}` === callback),
    page.locator('#allow_button').click(),
  ]);
  assert.equal((await page.locator('body').textContent()).trim(), 'done');
}

/** The CLI's listener is not the portal: the icon Chromium asks it for is not there. */
function forgiveListener(watched) {
  watched.forgive(expect.authorize.callback, 404);
}

mkdirSync(screenshots, { recursive: true });
const started = Date.now();
const browser = await chromium.launch({ executablePath, timeout });
const version = browser.version();
try {
  // The IdP's pages and the CLI's listener are navigated to, never loaded from.
  const watched = await watchedContext(browser, {}, { origins: [origin] });
  const page = await watched.context.newPage();
  try {
    await approveTypedCode(page);
    await denyLink(page);
    await allowAuthorize(page);
    forgiveListener(watched);
  } catch (error) {
    // What the pages said before the failed check often explains it.
    console.error(watched.problems().join('\n'));
    throw error;
  }
  assert.deepEqual(watched.problems(), [], 'console errors, CSP violations or foreign loads');
  await watched.context.close();
} finally {
  await browser.close();
}
console.log(`chromium ${version}: every check passed in ${Date.now() - started} ms`);
