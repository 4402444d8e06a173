/**
 * The dashboard in a real browser (Debian's headless Chromium driven by playwright-core) against
 * the whole stack training real jobs: login, the overview and job pages, live progress and charts
 * without a reload, a restart of the dashboard service mid-training, downloads and cancel.
 * Screenshots of the pages are written to .run/screenshots/.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { TrainRequest } from "@trainyard/contracts";
import { freePort, repoRoot } from "@trainyard/stack";
import { chromium, type Browser, type Page } from "playwright-core";
import { startE2eRun, type E2eRun } from "./support.js";

const CHROMIUM = "/usr/bin/chromium";
/** Where the test run writes its screenshots (ignored by git). */
const SCREENSHOT_DIR = join(repoRoot, ".run", "screenshots");
/** Long enough to watch progress advance and to restart the dashboard while it trains. */
const EPOCHS = 40;
const TRAINING_TIMEOUT_MS = 10 * 60_000;
const UI_TIMEOUT_MS = 60_000;

let run: E2eRun;
let browser: Browser;
let page: Page;
let dashboardEnv: Record<string, string>;
const token = randomBytes(18).toString("base64url");
const appTemplate = "https://app.example/training/{job_id}";
let first: TrainRequest;
let second: TrainRequest;

before(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const gatewayPort = await freePort();
  const apiSecret = randomBytes(24).toString("base64url");
  // What the dashboard needs besides the stack's defaults; kept to start it again with the same.
  dashboardEnv = {
    DASHBOARD_TOKEN: token,
    GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
    GATEWAY_API_TOKEN: apiSecret,
    DOWNLOAD_URL_SECRET: randomBytes(24).toString("base64url"),
    DASHBOARD_APP_URL_TEMPLATE: appTemplate,
  };
  run = await startE2eRun({
    name: "browser",
    stack: { gatewayPort, apiSecret, env: dashboardEnv },
    datasets: { "shapes.zip": { train: 8, val: 4, size: 64, seed: 3 } },
  });
  first = run.job(EPOCHS, { name: "shapes-detector-v1" });
  second = run.job(200, { name: "shapes-detector-v2" });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on("console", (message) => {
    if (message.type() === "error") console.log(`browser console: ${message.text()}`);
  });
  console.log(`screenshots: ${SCREENSHOT_DIR}`);
});

after(async () => {
  await browser?.close();
  await run?.close();
});

const shoot = async (name: string) => {
  const path = join(SCREENSHOT_DIR, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
};
/** A number the page shows in `selector`'s attribute. */
const numberAt = async (selector: string, attribute: string) =>
  Number(await page.locator(selector).first().getAttribute(attribute));
/**
 * Waits until the page shows a larger number than `than` in `selector`'s attribute, without
 * reloading it. Read from here: the page's CSP (rightly) forbids the eval a page-side wait uses.
 */
const advancesPast = async (selector: string, attribute: string, than: number, timeoutMs = TRAINING_TIMEOUT_MS) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = Number(await page.locator(selector).first().getAttribute(attribute, { timeout: timeoutMs }));
    if (value > than) return value;
    if (Date.now() > deadline) throw new Error(`${selector} ${attribute} stayed at ${value}, not above ${than}`);
    await page.waitForTimeout(200);
  }
};
/** Set once after login: still there later means the page never reloaded. */
const MARK = "window.trainyardNoReload";
const stillSamePage = async () => assert.equal(await page.evaluate(MARK), true, "the page did not reload");

test(
  "the operator logs in with the token; the overview shows health, counts and the GPU host",
  { timeout: 120_000 },
  async () => {
    await page.goto(run.stack.dashboardUrl);
    await page.locator("#token").fill("not-the-token");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("login-error").waitFor();
    await page.locator("#token").fill(token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await page.locator('[data-testid="health"][data-state="ok"]').waitFor();
    await page.locator('[data-testid="host"][data-agent-id="local-1"][data-online="true"]').waitFor();
    assert.equal(await page.getByTestId("count-active").textContent(), "0");
    const html = await page.content();
    assert.ok(
      !html.includes(run.stack.apiSecret) && !html.includes(dashboardEnv.DOWNLOAD_URL_SECRET!),
      "no secret in the page",
    );
  },
);

test("the launcher's login link (/#token=…) logs a new browser in and leaves no token in the address", async () => {
  const other = await browser.newPage();
  try {
    await other.goto(`${run.stack.dashboardUrl}/#token=${encodeURIComponent(token)}`);
    await other.locator('[data-testid="connection"][data-state="open"]').waitFor();
    assert.ok(!other.url().includes(token), `the address holds no token: ${other.url()}`);
    const session = await other.evaluate(async () => (await fetch("/api/session")).json());
    assert.equal((session as { authenticated: boolean }).authenticated, true, "a session cookie was set");
  } finally {
    await other.close();
  }
});

test(
  "a training job appears live; its progress bar advances without a reload; the queue shows the next",
  { timeout: 300_000 },
  async () => {
    await page.evaluate(`${MARK} = true`);
    await run.submit(first);
    const card = `[data-testid="active-job"][data-job-id="${first.job_id}"]`;
    const bar = `${card} [role="progressbar"]`;
    await page.locator(bar).waitFor({ timeout: TRAINING_TIMEOUT_MS });
    await advancesPast(bar, "aria-valuenow", 10);
    const progress = await numberAt(bar, "aria-valuenow");
    await advancesPast(bar, "aria-valuenow", progress);
    assert.match((await page.locator(card).textContent()) ?? "", /Epoch \d+\/40/);

    await run.submit(second);
    const queued = page.locator(`[data-testid="queued-job"][data-job-id="${second.job_id}"]`);
    await queued.waitFor();
    assert.match((await queued.textContent()) ?? "", /#1/);
    assert.match((await queued.getByTestId("queued-start").textContent()) ?? "", /starts/);
    assert.equal(await page.getByTestId("count-queued").textContent(), "1");
    await stillSamePage();
    await shoot("overview.png");
  },
);

test(
  "the job page's charts advance live and resume after the dashboard service restarts",
  { timeout: TRAINING_TIMEOUT_MS },
  async () => {
    await page.locator(`[data-testid="active-job"][data-job-id="${first.job_id}"] a`).click();
    await page.waitForURL(`**/jobs/${first.job_id}`);
    const chart = '[data-testid="chart-map"]';
    await advancesPast(chart, "data-points", 0);
    const points = await numberAt(chart, "data-points");
    await advancesPast(chart, "data-points", points);
    assert.equal(await page.getByTestId("dataset-info").isVisible(), true);
    assert.match((await page.getByTestId("job-config").textContent()) ?? "", /64px/);

    const seenBefore = await numberAt(chart, "data-points");
    await run.stack.restart("dashboard", {
      // the page notices the outage before the service is back
      duringOutage: () => page.locator('[data-testid="connection"]:not([data-state="open"])').waitFor(),
    });
    await page.locator('[data-testid="connection"][data-state="open"]').waitFor();
    await advancesPast(chart, "data-points", seenBefore);

    await page.locator('[data-testid="job-detail"] [data-testid="job-status"]', { hasText: "Completed" }).waitFor({
      timeout: TRAINING_TIMEOUT_MS,
    });
    await advancesPast(chart, "data-points", EPOCHS - 1);
    assert.equal(await numberAt(chart, "data-points"), EPOCHS, "every epoch charted, none lost across the restart");
    assert.equal(await page.getByTestId("job-epoch").textContent(), `${EPOCHS} / ${EPOCHS}`);
    await page.getByTestId("final-metrics").waitFor();

    // downloads are signed gateway links minted by the dashboard; plots load from them
    const href = async (testid: string) =>
      new URL((await page.getByTestId(testid).getAttribute("href")) ?? "", run.stack.dashboardUrl).toString();
    const model = await page.request.get(await href("download-model"));
    assert.equal(model.status(), 200, "the model downloads");
    assert.ok((await model.body()).length > 100_000, "a real weights file");
    const logs = await page.request.get(await href("download-logs"));
    assert.equal(logs.status(), 200, "the logs download");
    const images = page.locator('img[data-testid^="artifact-"]');
    assert.ok((await images.count()) >= 1, "at least one result plot");
    for (let i = 0; i < (await images.count()); i++) {
      const src = (await images.nth(i).getAttribute("src")) ?? "";
      const plot = await page.request.get(new URL(src, run.stack.dashboardUrl).toString());
      assert.equal(plot.status(), 200, `${src} answers ${plot.status()} from ${plot.url()}`);
      assert.equal(plot.headers()["content-type"], "image/png");
    }
    const loaded = `[...document.querySelectorAll('img[data-testid^="artifact-"]')].map((i) => i.complete && i.naturalWidth > 0)`;
    for (let tries = 0; ; tries++) {
      const states = await page.evaluate<boolean[]>(loaded);
      if (states.every(Boolean)) break;
      assert.ok(tries < 100, `the result plots show in the page: ${JSON.stringify(states)}`);
      await page.waitForTimeout(200);
    }
    assert.equal(
      await page.getByTestId("view-in-app").getAttribute("href"),
      appTemplate.replace("{job_id}", first.job_id),
    );
    await stillSamePage();
    await shoot("job-detail.png");
  },
);

test("the cancel button, once confirmed, cancels a training job", { timeout: 300_000 }, async () => {
  await page.getByRole("link", { name: "← Back to Dashboard" }).click();
  const card = page.locator(`[data-testid="active-job"][data-job-id="${second.job_id}"]`);
  await card.waitFor({ timeout: TRAINING_TIMEOUT_MS });
  await card.getByRole("link", { name: "View Details" }).click();
  await page.waitForURL(`**/jobs/${second.job_id}`);
  await advancesPast('[data-testid="chart-map"]', "data-points", 0);

  await page.getByTestId("cancel-job").click();
  const dialog = page.getByTestId("cancel-dialog");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Keep Training" }).click();
  assert.equal(await dialog.isVisible(), false, "keeping it closes the dialog and changes nothing");
  await page.getByTestId("cancel-job").click();
  await page.getByTestId("confirm-cancel").click();
  await page.locator('[data-testid="job-detail"] [data-testid="job-status"]', { hasText: "Cancelled" }).waitFor();
  await page.getByTestId("job-error").filter({ hasText: "CANCELLED" }).waitFor({ timeout: TRAINING_TIMEOUT_MS });

  const res = await run.stack.api(`/api/v1/jobs/${second.job_id}`);
  assert.equal(((await res.json()) as { status: string }).status, "cancelled");
  await shoot("job-cancelled.png");
});
