// The page in a real browser: Debian's chromium, headless, driven by
// playwright-core (never a downloaded browser).
//   node browser.mjs BASE USER PASSWORD DNS_COUNT TRAP_COUNT HOST HOSTILE...
// Exits 0 when every check passed; prints what failed otherwise.
import { launch } from './chromium.mjs';

const [base, user, password, dnsN, trapN, host, ...hostile] = process.argv.slice(2);
const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };

const browser = await launch();
const dialogs = [];
const consoleErrors = [];
const pageErrors = [];
try {
  const { page } = browser;
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  // Signed out: the page sends us to the sign-in form.
  await page.goto(base + '/');
  await page.waitForSelector('#login-form');
  check(page.url().endsWith('/login'), 'not redirected to /login: ' + page.url());

  // A wrong password is refused.
  await page.fill('#username', user);
  await page.fill('#password', 'wrong');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);

  // Sign in.
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#count-dns');
  const dns = Number(await page.textContent('#count-dns'));
  const trap = Number(await page.textContent('#count-trap'));
  check(dns === Number(dnsN), `overview shows ${dns} DNS queries, expected ${dnsN}`);
  check(trap === Number(trapN), `overview shows ${trap} trap connections, expected ${trapN}`);
  check(await page.locator('#timeline canvas').count() > 0, 'no timeline chart drawn');

  // Hosts, then the infected host's page and its chain.
  await page.click('a[data-view="hosts"]');
  await page.waitForSelector('a.host');
  await page.click(`a.host:text-is("${host}")`);
  await page.waitForSelector('#host-timeline');
  check((await page.textContent('#host-ip')) === host, 'host page shows another host');
  const items = await page.locator('#host-timeline > li').allTextContents();
  check(items.some((t) => t.includes(' dns ') || t.includes('dns')), 'no dns query in the timeline');
  check(items.some((t) => t.includes('trap')), 'no trap connection in the timeline');
  // Hostile values are shown as text.
  const text = await page.textContent('#host-timeline');
  for (const h of hostile) check(text.includes(h), 'hostile value not shown as text: ' + h);
  check(!/[\u202a-\u202e\u2066-\u2069\u200b-\u200f]/.test(text), 'a bidi or zero-width character shown as is');
  check(await page.locator('#host-timeline img').count() === 0, 'an <img> element was injected');
  check(await page.locator('#host-timeline script').count() === 0, 'a <script> element was injected');
  const hrefs = await page.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  check(!hrefs.some((h) => h && h.trim().toLowerCase().startsWith('javascript:')), 'a javascript: link');
  // The payload's zip download.
  const zip = page.locator('#host-timeline a.zip').first();
  if (await zip.count()) {
    const [dl] = await Promise.all([page.waitForEvent('download'), zip.click()]);
    check(dl.suggestedFilename().endsWith('.zip'), 'payload download is not a zip');
  } else {
    check(false, 'no payload download link on the host page');
  }

  // The trap and DNS logs, paged.
  await page.click('a[data-view="trap"]');
  await page.waitForSelector('.pager .range');
  const range = await page.textContent('.pager .range');
  check(range.endsWith(`of ${trapN}`), 'trap log paging says ' + range);
  const trapText = await page.textContent('#view');
  for (const h of hostile) check(trapText.includes(h), 'hostile value missing from the trap log: ' + h);
  // A link that names a filter the view has no field for (net, here: one that
  // would match nothing) does not apply it unseen.
  await page.goto(base + '/#/trap?net=192.0.2.1/32');
  await page.waitForSelector('.pager .range');
  const linked = await page.textContent('.pager .range');
  check(linked.endsWith(`of ${trapN}`), 'a filter from the link applied unseen: ' + linked);
  await page.click('a[data-view="dns"]');
  await page.waitForSelector('.pager .range');
  // Lists: which entry decides this name?
  await page.click('a[data-view="lists"]');
  await page.waitForSelector('#lists-summary');
  await page.fill('#check-name', 'anything.example');
  await page.click('#view form button');
  await page.waitForFunction(() => document.getElementById('check-result').textContent.length > 0);
  // Sessions and payloads pages load.
  await page.click('a[data-view="sessions"]');
  await page.waitForSelector('#view h2');
  await page.click('a[data-view="payloads"]');
  await page.waitForSelector('#view h2');
  await page.waitForSelector('#view a.zip');
  await page.waitForTimeout(300);

  // Sign out.
  await page.click('#logout');
  await page.waitForSelector('#login-form');
} catch (e) {
  problems.push('error: ' + (e && e.stack ? e.stack : String(e)));
} finally {
  await browser.close();
}
check(dialogs.length === 0, 'dialogs opened: ' + JSON.stringify(dialogs));
// The one wrong password answers 401; the browser reports that failed load.
const realErrors = consoleErrors.filter((m) => !m.includes('401'));
check(realErrors.length === 0, 'console errors: ' + JSON.stringify(realErrors));
check(pageErrors.length === 0, 'page errors: ' + JSON.stringify(pageErrors));
if (problems.length) {
  console.log(problems.join('\n'));
  process.exit(1);
}
console.log('browser checks passed');
