// Open one page of the built book in Debian's chromium, wait for its saved widgets to render,
// switch each dropdown of every explorer on the page (whynot.widgets.explorer) and print a JSON
// report on stdout; tests/test_book.py asserts on it.
// Usage: node check_widgets.mjs URL SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [url, screenshotPath] = process.argv.slice(2);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
];
const VIEW_SCRIPT = 'script[type="application/vnd.jupyter.widget-view+json"]';
const EXPLORER = ".whynot-explorer";

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  const report = { requests: [], failed: [], errors: [], switches: [] };
  page.on("request", (r) => report.requests.push(r.url()));
  page.on("requestfailed", (r) => report.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && report.failed.push(`${r.url()}: HTTP ${r.status()}`));
  page.on("pageerror", (e) => report.errors.push(String(e)));

  await page.goto(url, { waitUntil: "load" });
  // The widget manager puts a rendered .widget-subarea before every saved view.
  // Pages without saved widgets (the claims page) skip the wait.
  const hasViews = (await page.locator(VIEW_SCRIPT).count()) > 0;
  report.rendered = hasViews && await page
    .waitForFunction(
      (sel) => {
        const views = document.querySelectorAll(sel).length;
        return views > 0 && document.querySelectorAll(".widget-subarea > *").length >= views;
      },
      VIEW_SCRIPT,
      { timeout: 30000 },
    )
    .then(() => true, () => false);
  await page.waitForLoadState("networkidle");
  Object.assign(
    report,
    await page.evaluate(
      ([sel, explorer]) => ({
        views: document.querySelectorAll(sel).length,
        subareas: document.querySelectorAll(".widget-subarea").length,
        widgets: document.querySelectorAll(".jupyter-widgets").length,
        dropdowns: document.querySelectorAll(".widget-dropdown").length,
        images: document.querySelectorAll("img.widget-image").length,
        explorers: document.querySelectorAll(explorer).length,
        loading: (document.body.innerText.match(/Loading widget/g) || []).length,
        tableRows: document.querySelectorAll("main table tbody tr").length,
      }),
      [VIEW_SCRIPT, EXPLORER],
    ),
  );
  await page.screenshot({ path: screenshotPath, type: "png", fullPage: true });

  // Choosing another option must show another picture, in the browser alone (no kernel).
  for (let e = 0; e < report.explorers; e++) {
    const explorer = page.locator(EXPLORER).nth(e);
    const image = explorer.locator("img.widget-image");
    const dropdowns = explorer.locator(".widget-dropdown");
    for (let i = 0; i < (await dropdowns.count()); i++) {
      const dropdown = dropdowns.nth(i);
      await explorer.scrollIntoViewIfNeeded();
      const before = await image.screenshot();
      const src = await image.getAttribute("src");
      await dropdown.locator("select").selectOption({ index: 1 });
      await page.waitForFunction(
        ([sel, index, old]) => {
          const img = document.querySelectorAll(sel)[index].querySelector("img.widget-image");
          return img && img.src !== old && img.complete && img.naturalWidth > 0;
        },
        [EXPLORER, e, src],
        { timeout: 10000 },
      ).catch(() => {});
      const after = await image.screenshot();
      report.switches.push({
        explorer: e,
        control: await dropdown.locator("label").innerText(),
        changed: !before.equals(after),
      });
    }
  }
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
