// The dashboard in a real browser (Debian's Chromium, headless), as an
// operator uses it: refused without the token, log in, watch a dead letter
// appear, open it, requeue it, watch it end done; a POST without its CSRF
// token refused. Run by tests/dashboard_browser.rs, which serves the
// dashboard and the test's own POST /test/deliver (stores a delivery whose
// first attempt fails for good).
//
// Usage: node dashboard.mjs BASE_URL TOKEN [SCREENSHOT_DIR]

import { chromium } from 'playwright-core';

const [base, token, shots] = process.argv.slice(2);
const origin = new URL(base).origin;

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

// Reloads until `predicate` holds; bounded (a state poll, not a bet on speed).
async function until(page, what, predicate) {
  for (let i = 0; i < 300; i++) {
    if (await predicate()) return;
    await page.waitForTimeout(200);
    await page.reload();
  }
  throw new Error(`never: ${what}`);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();

  const refused = await page.goto(`${base}/`);
  check(refused.status() === 401, 'without the token: 401');
  check(await page.locator('input[name=token]').count() === 1, 'the login form is shown');

  await page.fill('input[name=token]', 'not-the-token');
  await page.click('button[type=submit]');
  check((await page.content()).includes('That is not the token'), 'a wrong token is refused');

  await page.fill('input[name=token]', token);
  await shot(page, 'login');
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Latest dead letters');
  check(new URL(page.url()).pathname.endsWith('/'), 'logged in: the overview');
  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === 'gw_dashboard');
  check(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly, SameSite=Strict');

  const delivered = await page.request.post(`${origin}/test/deliver`);
  check(delivered.ok(), 'a delivery stored');
  const id = (await delivered.text()).trim();

  await page.goto(`${base}/jobs?state=dead`);
  await until(page, 'the dead letter is listed', async () => (await page.locator(`a:text-is("${id}")`).count()) === 1);
  check(true, 'a dead letter appears in the jobs page');
  await page.goto(`${base}/`);
  await shot(page, 'overview');
  await page.goto(`${base}/jobs?state=dead`);
  await shot(page, 'jobs');

  await page.click(`a:text-is("${id}")`);
  await page.waitForSelector('text=Envelope');
  check((await page.locator('.state').first().textContent()) === 'dead', 'its page says dead');
  check((await page.locator('pre.error').textContent()).includes('first attempt fails'), 'its last error is shown');
  await shot(page, 'job');

  // A POST without the CSRF token, with the session cookie: refused.
  const forged = await page.request.post(`${base}/job/requeue`, {
    form: { key: id },
  });
  check(forged.status() === 403, 'a POST without its CSRF token: 403');

  await page.click('button:text("Requeue this dead letter")');
  await page.waitForSelector('text=requeued');
  await until(page, 'the job ends done', async () => (await page.locator('.state').first().textContent()) === 'done');
  check(true, 'requeued, it ends done');

  await page.goto(`${base}/requeue?state=done`);
  await shot(page, 'requeue');
  check((await page.locator('#matching').textContent()).includes('job(s) match'), 'a bulk requeue says how many first');
} finally {
  await browser.close();
}
