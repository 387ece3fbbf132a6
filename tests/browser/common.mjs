// What the browser scripts (portal.mjs, device.mjs) share: reading the environment the Rust
// test sets, writing the handshake files, screenshots, a watched browser context, keyboard
// navigation and the pages' accessibility basics.

import assert from 'node:assert/strict';
import { renameSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable `name`, which tests/it/browser.rs sets. */
export const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set (tests/it/browser.rs sets it)`);
  return value;
};

// The screenshots' width: the copies in docs/screenshots stay small.
export const viewport = { width: 1000, height: 760 };
export const timeout = 10_000;

/** Write `text` to `path` whole: the Rust test polls for the file. */
export function writeWhole(path, text) {
  writeFileSync(`${path}.part`, text, { mode: 0o600 });
  renameSync(`${path}.part`, path);
}

/** Wait until `path` exists (the Rust test writes it whole) and read it. */
export async function waitForFile(path) {
  const until = Date.now() + timeout;
  while (!existsSync(path)) {
    assert.ok(Date.now() < until, `nobody wrote ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return readFileSync(path, 'utf8');
}

/**
 * A screenshot function for the directory `dir`: `NAME.png`, the window; with `whole`, also
 * `NAME-full.png`, the whole page.
 */
export function screenshotsIn(dir) {
  return async (page, name, { whole = false } = {}) => {
    await page.screenshot({ path: join(dir, `${name}.png`) });
    if (whole) {
      await page.screenshot({ path: join(dir, `${name}-full.png`), fullPage: true });
    }
  };
}

/**
 * A browser context whose pages may not log an error nor violate the Content-Security-Policy:
 * every such message is collected, and `problems()` lists them. With `origins` (the origins
 * the pages may load from), a page that loads anything (a stylesheet, a script, an image, a
 * fetch) from another origin is a problem too; navigations (to the IdP and back) are not.
 */
export async function watchedContext(browser, options = {}, { origins } = {}) {
  const context = await browser.newContext({ viewport, ...options });
  context.setDefaultTimeout(timeout);
  const seen = [];
  context.on('page', (page) => {
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        seen.push(`${page.url()}: console ${message.type()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => seen.push(`${page.url()}: uncaught: ${error.message}`));
    page.on('requestfailed', (request) => {
      seen.push(`${page.url()}: ${request.method()} ${request.url()} failed: ${request.failure()?.errorText}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) {
        seen.push(`${page.url()}: ${response.request().method()} ${response.url()}: ${response.status()}`);
      }
    });
    if (origins) {
      page.on('request', (request) => {
        if (request.isNavigationRequest()) return;
        const origin = new URL(request.url()).origin;
        if (!origins.includes(origin)) {
          seen.push(`${page.url()}: loaded ${request.resourceType()} from another origin: ${request.url()}`);
        }
      });
    }
  });
  if (options.javaScriptEnabled !== false) {
    // A violation is also logged by Chromium; the event names the directive.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
      });
    });
  }
  return {
    context,
    problems: () => seen.slice(),
    // An error page answers 4xx, which Chromium reports as a failed load: expected for the
    // pages asked for on purpose, `target` answering `status`.
    forgive: (target, status) => {
      for (let i = seen.length - 1; i >= 0; i -= 1) {
        if (seen[i].includes(target) && seen[i].includes(` ${status}`)) seen.splice(i, 1);
      }
    },
  };
}

/** Press Tab until `selector` has the focus (30 presses at most): keyboard access. */
export async function tabTo(page, selector) {
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) {
      return;
    }
  }
  assert.fail(`Tab never reached ${selector} on ${page.url()}`);
}

/**
 * The page's accessibility basics: a language, a title, one `h1` (first among the headings,
 * and no heading level skipped), every visible form control labelled (a `<label for>` with
 * text, or `aria-label`), every button and link named by its text.
 */
export async function checkAccessibility(page) {
  const found = await page.evaluate(() => {
    const problems = [];
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    if (!document.documentElement.lang) problems.push('no <html lang>');
    if (!document.title.trim()) problems.push('no <title>');
    const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')];
    if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
    if (headings.length && headings[0].tagName !== 'H1') problems.push(`the first heading is ${headings[0].tagName}`);
    let level = 0;
    for (const h of headings) {
      const next = Number(h.tagName[1]);
      if (level && next > level + 1) problems.push(`${h.tagName} after h${level}`);
      level = next;
    }
    for (const control of document.querySelectorAll('input, select, textarea')) {
      if (control.type === 'hidden' || !visible(control)) continue;
      const label = control.id && document.querySelector(`label[for="${CSS.escape(control.id)}"]`);
      const named = (label && label.textContent.trim()) || control.getAttribute('aria-label');
      if (!named) problems.push(`${control.name || control.id}: no label`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (visible(el) && !(el.textContent.trim() || el.getAttribute('aria-label'))) {
        problems.push(`${el.outerHTML.slice(0, 60)}: no name`);
      }
    }
    return problems;
  });
  assert.deepEqual(found, [], `accessibility basics of ${page.url()}`);
}
