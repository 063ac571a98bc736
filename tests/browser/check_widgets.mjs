// Open one page of the built book in Debian's chromium, wait for its saved widgets to render,
// measure what a reader would notice (code, output or a table wider than its column, images
// missing or shrunk, `nan` in a table), switch each dropdown of every explorer on the page
// (whynot.widgets.explorer) and print a JSON report on stdout; tests/test_book.py asserts on it.
// Usage: node check_widgets.mjs URL SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [url, screenshotPath] = process.argv.slice(2);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
];
const VIEW_SCRIPT = 'script[type="application/vnd.jupyter.widget-view+json"]';
const EXPLORER = ".whynot-explorer";

// What a reader of the page would notice, measured with every hidden input opened (a reader may
// open it). Runs in the page.
function measureLayout() {
  const closed = [...document.querySelectorAll("main details:not([open])")];
  closed.forEach((d) => (d.open = true));
  const snippet = (el) => el.textContent.trim().replace(/\s+/g, " ").slice(0, 80);
  const where = (el) => {
    const heading = [...document.querySelectorAll("main h1, main h2, main h3")]
      .filter((h) => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    return heading ? heading.textContent.replace("#", "").trim() : "";
  };
  // Scrolls sideways: code (of cells and of the prose), printed output, a rendered output
  // (tables, figures, widgets).
  const scrollers = [
    ["code", "article.bd-article pre:not(.cell_output pre)"],
    ["output", ".cell_output pre"],
    ["output", ".cell_output > .output"],
    ["table", "main table"],
  ].flatMap(([kind, selector]) => [...document.querySelectorAll(selector)].map((el) => [kind, el]));
  // Sticks out: wider than its cell (136 % of the text column where tagged full-width).
  const article = document.querySelector("article.bd-article") || document.body;
  const column = article.clientWidth;
  const room = (el) => (el.closest("div.cell") || article).clientWidth;
  const overflow = scrollers
    .filter(([kind, el]) => el.clientWidth > 0)
    .filter(([kind, el]) => el.scrollWidth > el.clientWidth + 1
      || el.getBoundingClientRect().width > room(el) + 1)
    .map(([kind, el]) => ({ kind, section: where(el), scrollWidth: el.scrollWidth,
                            clientWidth: el.clientWidth, text: snippet(el) }));
  const images = [...document.querySelectorAll("article.bd-article img")].map((img) => ({
    src: img.currentSrc.split("/").pop().slice(0, 60) || img.src.slice(0, 40),
    section: where(img),
    loaded: img.complete && img.naturalWidth > 0,
    width: Math.round(img.getBoundingClientRect().width),
    height: Math.round(img.getBoundingClientRect().height),
    naturalWidth: img.naturalWidth,
    widget: img.classList.contains("widget-image"),
  }));
  const undefinedCell = (cell) => /(^|[^\w.])(nan|NaN|<NA>|None)([^\w]|$)/.test(cell.textContent);
  const nanRows = [...document.querySelectorAll("main table tr")]
    .filter((row) => [...row.querySelectorAll("td, th")].some(undefinedCell))
    .map((row) => ({ section: where(row), text: snippet(row) }));
  const text = document.querySelector("article.bd-article p");
  const bodyFontPx = parseFloat(getComputedStyle(text || document.body).fontSize);
  closed.forEach((d) => (d.open = false));
  return { column, bodyFontPx, overflow, images, nanRows };
}

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
        // the claims page lists each claim as an item that says what we measure
        claimItems: [...document.querySelectorAll("main li")]
          .filter((item) => item.textContent.includes("We measure:")).length,
      }),
      [VIEW_SCRIPT, EXPLORER],
    ),
  );
  // Images below the fold may load lazily: bring each into view and wait for it.
  for (const image of await page.locator("article.bd-article img").all()) {
    await image.scrollIntoViewIfNeeded({ timeout: 2000 }).catch(() => {});
    await image.evaluate((img) => img.decode().catch(() => {}));
  }
  report.layout = await page.evaluate(measureLayout);
  await page.evaluate(() => window.scrollTo(0, 0));
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
