// The sessions page in a real browser (Debian's chromium, headless,
// playwright-core): the session ids it shows and the PCAP it downloads.
//   node sessions_browser.mjs BASE USER PASSWORD OUTDIR
// Prints one JSON line: {shown: [session ids of the first page],
// picked, rows (after filtering by it), file (its download), udpRows (the
// sessions listed for proto=udp), udpFile (their "all matching packets"
// download)}; exits 1 with what failed otherwise.
import path from 'node:path';
import { launch } from './chromium.mjs';

const [base, user, password, outdir] = process.argv.slice(2);
const browser = await launch();
let failed = null;
const errors = [];
try {
  const { page } = browser;
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/');
  await page.waitForSelector('#login-form');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#count-dns');

  await page.click('a[data-view="sessions"]');
  await page.waitForSelector('#view table a.pcap');
  const heads = await page.locator('#view thead th').allTextContents();
  const col = heads.indexOf('session');
  if (col < 0) throw new Error('no session column: ' + JSON.stringify(heads));
  const cells = async () => page.locator(`#view tbody tr td:nth-child(${col + 1})`).allTextContents();
  const shown = await cells();
  const picked = shown[0];

  // Filter by that session: one row, and its PCAP button downloads it.
  await page.fill('#view form input[name="session"]', picked);
  await page.click('#view form button');
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll('#view tbody tr');
    return rows.length === 1;
  }, picked);
  const rows = await cells();
  const button = page.locator('#view tbody tr a.pcap').first();
  const [dl] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const file = path.join(outdir, dl.suggestedFilename());
  await dl.saveAs(file);

  // Filter by protocol: "all matching packets" holds those of the sessions listed.
  await page.fill('#view form input[name="session"]', '');
  await page.fill('#view form input[name="proto"]', 'udp');
  await page.click('#view form button');
  const all = page.locator('#view a.button', { hasText: 'Download all matching packets' });
  await page.waitForFunction(() => [...document.querySelectorAll('#view a.button')]
    .some((a) => a.href.includes('proto=udp')));
  const udpRows = await cells();
  const [dl2] = await Promise.all([page.waitForEvent('download'), all.click()]);
  const udpFile = path.join(outdir, 'udp-' + dl2.suggestedFilename());
  await dl2.saveAs(udpFile);

  // A Community ID with a time window: the list takes both, the download the
  // Community ID alone (the command refuses a window with it).
  const cidCol = heads.indexOf('community id');
  const cid = (await page.locator(`#view tbody tr td:nth-child(${cidCol + 1})`).allTextContents())[0];
  await page.fill('#view form input[name="proto"]', '');
  await page.fill('#view form input[name="community_id"]', cid);
  await page.fill('#view form input[name="since"]', '2001-01-01T00:00:00Z');
  await page.click('#view form button');
  const byCid = page.locator('#view a.button', { hasText: 'Community ID' });
  await byCid.waitFor();
  const cidHref = await byCid.getAttribute('href');
  const cidStatus = (await page.request.get(base + cidHref)).status();
  console.log(JSON.stringify({ shown, picked, rows, file, udpRows, udpFile, cid, cidHref, cidStatus }));
} catch (e) {
  failed = e && e.stack ? e.stack : String(e);
} finally {
  await browser.close();
}
if (failed || errors.length) {
  console.log('failed: ' + (failed || '') + ' page errors: ' + JSON.stringify(errors));
  process.exit(1);
}
