// The console's browser scenarios (ADR 0017 section 4), driven by playwright-core with the system chromium.
//
//   node tests/browser/run.mjs --url http://127.0.0.1:PORT --out DIR --scenario NAME [--arg k=v ...]
//
// --url is the node (the console is at <url>/console/); --out receives one PNG per step (<scenario>-NN-<step>.png,
// and <scenario>-FAILED.png on a failure). Exit status 0 when every step passed; 1 with a message on stderr when a
// step failed; 2 on a usage error. The browser is never downloaded: CHROMIUM (default /usr/bin/chromium) must
// exist (`make browser-tools` installs Debian's chromium and this directory's node_modules).
//
// Scenarios and their arguments: see SCENARIOS below; the hooks they read are the data-testid attributes listed in
// trellis/console/README.md.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";

const STEP_TIMEOUT_MS = 15000;

function usage(message) {
  process.stderr.write(`run.mjs: ${message}\n`);
  process.stderr.write(
    "usage: node tests/browser/run.mjs --url http://127.0.0.1:PORT --out DIR --scenario NAME [--arg k=v ...]\n" +
      `scenarios: ${Object.keys(SCENARIOS).join(", ")}\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { args: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!["--url", "--out", "--scenario", "--arg"].includes(flag)) usage(`unknown option ${flag}`);
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    if (flag === "--arg") {
      const eq = value.indexOf("=");
      if (eq <= 0) usage(`--arg ${value}: expected k=v`);
      opts.args[value.slice(0, eq)] = value.slice(eq + 1);
    } else {
      opts[flag.slice(2)] = value;
    }
  }
  for (const need of ["url", "out", "scenario"]) if (!opts[need]) usage(`--${need} is required`);
  if (!/^https?:\/\/[^/]+$/.test(opts.url)) usage(`--url ${opts.url}: expected http://HOST:PORT (no path)`);
  return opts;
}

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function need(args, ...names) {
  for (const n of names) if (args[n] === undefined || args[n] === "") fail(`this scenario needs --arg ${n}=...`);
  return names.map((n) => args[n]);
}

// -- the page and its steps -----------------------------------------------------------------------------------

class Run {
  constructor(page, base, out, scenario) {
    this.page = page;
    this.base = base;
    this.out = out;
    this.scenario = scenario;
    this.n = 0;
    this.pageErrors = [];
    this.consoleErrors = [];
    page.on("pageerror", (err) => this.pageErrors.push(String(err && err.stack ? err.stack : err)));
    page.on("console", (msg) => {
      if (msg.type() === "error") this.consoleErrors.push(msg.text());
    });
  }

  tid(id) {
    return this.page.locator(`[data-testid="${id}"]`);
  }

  // One named step: run fn, then save a screenshot (also when fn failed, as <scenario>-FAILED.png).
  async step(name, fn) {
    this.n += 1;
    const file = `${this.scenario}-${String(this.n).padStart(2, "0")}-${name}.png`;
    process.stdout.write(`step ${this.n}: ${name}\n`);
    try {
      await fn();
      this.checkErrors(name);
    } catch (err) {
      await this.shot(`${this.scenario}-FAILED.png`);
      const detail = err instanceof Failure ? err.message : String(err && err.message ? err.message : err);
      throw new Failure(`step ${this.n} (${name}) failed: ${detail}`);
    }
    await this.shot(file);
  }

  async shot(file) {
    try {
      await this.page.screenshot({ path: path.join(this.out, file), fullPage: true, timeout: STEP_TIMEOUT_MS });
    } catch (err) {
      process.stderr.write(`run.mjs: screenshot ${file} failed: ${err.message}\n`);
    }
  }

  // An uncaught exception in the page, or a Content-Security-Policy violation, fails the step it happened in.
  checkErrors(step) {
    const csp = this.consoleErrors.filter((m) => /Content Security Policy/i.test(m));
    const thrown = this.pageErrors.splice(0);
    this.consoleErrors.length = 0;
    if (thrown.length) fail(`uncaught exception in the page during ${step}: ${thrown[0]}`);
    if (csp.length) fail(`Content-Security-Policy violation during ${step}: ${csp[0]}`);
  }

  // Go to #/<route> and wait until the view's root is there and has finished its first load.
  async open(route, view) {
    await this.page.goto("about:blank"); // a fresh page load: a hash-only change would keep the old view's state
    await this.page.goto(`${this.base}/console/#/${route}`, { waitUntil: "load", timeout: STEP_TIMEOUT_MS });
    await this.settled(view);
  }

  async settled(view) {
    const root = this.tid(`view-${view}`);
    await root.first().waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
    await this.tid("loading").first().waitFor({ state: "detached", timeout: STEP_TIMEOUT_MS });
    return root.first();
  }

  // The view's root must show no error box (a failed API call): its code and text are the failure.
  async noError(view) {
    const errors = this.tid(`view-${view}`).locator('[data-testid="error"]');
    if ((await errors.count()) > 0) {
      const first = errors.first();
      fail(`the ${view} view shows an error: code=${await first.getAttribute("data-code")} ${await first.innerText()}`);
    }
    // A value rendered by string conversion instead of as a DOM node or text is a rendering bug.
    const shown = await this.tid(`view-${view}`).first().innerText();
    const slip = shown.match(/.{0,40}\[object [A-Za-z]+\].{0,40}/);
    if (slip) fail(`the ${view} view shows a JavaScript object as text: ${JSON.stringify(slip[0])}`);
    const width = await this.page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (width[0] > width[1] + 1) process.stdout.write(`warning: the ${view} view is ${width[0]} px wide (window ${width[1]})\n`);
  }

  async text(locator, what) {
    if ((await locator.count()) === 0) fail(`${what}: not on the page`);
    return (await locator.first().innerText()).trim();
  }

  async expectText(locator, what, wanted) {
    const got = await this.text(locator, what);
    if (got !== wanted) fail(`${what}: expected ${JSON.stringify(wanted)}, the page shows ${JSON.stringify(got)}`);
  }

  // The receipt code shown by a receipt-code badge (its data-code; the text starts with it).
  async expectReceiptCode(locator, what, code) {
    if ((await locator.count()) === 0) fail(`${what}: not on the page`);
    const got = await locator.first().getAttribute("data-code");
    const text = (await locator.first().innerText()).trim();
    if (got !== String(code) || !text.startsWith(String(code))) {
      fail(`${what}: expected code ${code}, the page shows data-code=${got} ${JSON.stringify(text)}`);
    }
  }

  // Wait until the view shows a result box [data-testid=<id>] (replaced as a whole once computed) or an error box
  // in its place, and return the result's data-status and text.
  async result(view, id) {
    const root = this.tid(`view-${view}`).first();
    const done = root.locator(`[data-testid="${id}"][data-status], [data-testid="${id}-box"] [data-testid="error"]`);
    await done.first().waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
    await this.noError(view);
    const result = this.tid(id).first();
    return { status: await result.getAttribute("data-status"), text: (await result.innerText()).trim() };
  }
}

// A transaction's row must name its sender, its receiver and its amount: in its text or, when the page shortens
// a long hex value, in an attribute (title/href/data-*) of an element inside the row.
async function rowHas(row, value) {
  const bare = value.replace(/^0x/i, "").toLowerCase();
  return row.evaluate((el, want) => {
    const seen = [el.innerText];
    for (const e of el.querySelectorAll("*")) for (const a of e.attributes) seen.push(a.value);
    return seen.some((s) => s && s.toLowerCase().replace(/,/g, "").includes(want));
  }, bare);
}

async function expectTxRow(run, scope, hash, sender, receiver, amount) {
  const h = hash.replace(/^0x/i, "").toLowerCase();
  const rows = scope.locator('[data-testid="tx-row"]');
  let row = null;
  for (const candidate of await rows.all()) {
    const dh = ((await candidate.getAttribute("data-hash")) || "").replace(/^0x/i, "").toLowerCase();
    if (dh === h) row = candidate;
  }
  if (row === null) fail(`no tx-row with data-hash=${hash} (rows: ${await rows.count()})`);
  for (const [what, value] of [
    ["sender", sender],
    ["receiver", receiver],
    ["amount", amount],
  ]) {
    if (!(await rowHas(row, value))) fail(`the tx row of ${hash} does not show the ${what} ${value}`);
  }
  await run.expectReceiptCode(row.locator('[data-testid="receipt-code"]'), "the tx row's receipt-code", 0);
  return row;
}

// -- scenarios -------------------------------------------------------------------------------------------------

const SCENARIOS = {
  // A just-committed transfer: its page (#/tx/<hash>) and its block's page (#/block/<height>).
  // args: tx (hash), height, sender, receiver (addresses), amount.
  async "explorer-tx"(run, args) {
    const [tx, height, sender, receiver, amount] = need(args, "tx", "height", "sender", "receiver", "amount");
    const bare = tx.replace(/^0x/i, "");
    await run.step("tx", async () => {
      await run.open(`tx/${bare}`, "tx");
      await run.noError("tx");
      await run.expectText(run.tid("tx-status"), "tx-status", "committed");
      await run.expectText(run.tid("tx-height"), "tx-height", String(height));
      await run.expectReceiptCode(run.tid("view-tx").locator('[data-testid="receipt-code"]'), "receipt-code", 0);
      const hashText = (await run.text(run.tid("tx-hash"), "tx-hash")).replace(/^0x/i, "").toLowerCase();
      if (!hashText.includes(bare.toLowerCase())) fail(`tx-hash shows ${hashText}, not ${bare}`);
      const payload = run.tid("tx-payload").first();
      for (const [what, value] of [
        ["receiver", receiver],
        ["amount", amount],
      ]) {
        if (!(await rowHas(payload, value))) fail(`tx-payload does not show the ${what} ${value}`);
      }
    });
    await run.step("search", async () => {
      // the search box: the transaction's hash leads to its page, a height to its block's page
      for (const [query, view, hook, wanted] of [
        [tx, "tx", "tx-height", String(height)],
        [String(height), "block", "block-height", String(height)],
      ]) {
        await run.open("network", "network");
        await run.tid("search-input").first().fill(query);
        await run.tid("search-input").first().press("Enter");
        await run.settled(view);
        await run.noError(view);
        await run.expectText(run.tid(hook), `${hook} after searching ${query}`, wanted);
      }
    });
    await run.step("block", async () => {
      await run.open(`block/${height}`, "block");
      await run.noError("block");
      await run.expectText(run.tid("block-height"), "block-height", String(height));
      await expectTxRow(run, run.tid("view-block"), tx, sender, receiver, amount);
    });
  },

  // A notarized file verified in the browser. With no genesis pinned, the original is only valid_unpinned (with the
  // unpinned warning shown); pinned to another hash, still valid_unpinned. Once the network's genesis hash is pinned
  // (typed into the pin input), the original alone (its receipt looked up by its digest) and with its receipt file
  // is VALID with the anchoring height and time; a share link carrying &genesis= is VALID in a browser with no pin;
  // a tampered copy with the receipt is refused with the failed check as data-status.
  // args: file, tampered, receipt (paths), height, check (e.g. file_digest), genesis (the network's genesis hash).
  async "verify-file"(run, args) {
    const [file, tampered, receipt, height, check, genesisArg] = need(args, "file", "tampered", "receipt", "height", "check", "genesis");
    for (const p of [file, tampered, receipt]) if (!existsSync(p)) fail(`no such file: ${p}`);
    const genesis = genesisArg.replace(/^0x/i, "").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(genesis)) fail(`--arg genesis=${genesisArg}: expected 64 hex digits`);
    const clearPin = async () => {
      await run.open("verify", "verify");
      await run.tid("verify-pin-clear").first().click({ timeout: STEP_TIMEOUT_MS });
      await run.tid("verify-pin-state").locator('[data-state="none"]').first().waitFor({ timeout: STEP_TIMEOUT_MS });
    };
    const pinTo = async (hex) => {
      await run.open("verify", "verify");
      await run.tid("verify-pin-input").first().fill(`0x${hex}`, { timeout: STEP_TIMEOUT_MS });
      await run.tid("verify-pin-button").first().click({ timeout: STEP_TIMEOUT_MS });
      await run.tid("verify-pin-state").locator(`[data-pin="${hex}"]`).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    };
    const verifyWith = async (doc, withReceipt) => {
      await run.open("verify", "verify");
      await run.noError("verify");
      if (withReceipt) {
        // the receipt first: the file's digest then runs the check with it (not with a lookup by digest)
        await run.tid("verify-receipt-input").first().setInputFiles(receipt, { timeout: STEP_TIMEOUT_MS });
        await run.page
          .locator('[data-testid="verify-receipt-info"]', { hasText: path.basename(receipt) })
          .waitFor({ timeout: STEP_TIMEOUT_MS });
      }
      await run.tid("verify-file-input").first().setInputFiles(doc, { timeout: STEP_TIMEOUT_MS });
      return run.result("verify", "verify-result");
    };
    const expectUnpinned = async () => {
      const { status, text } = await verifyWith(file, false);
      if (status !== "valid_unpinned") fail(`the original file, unpinned: data-status=${status}, expected valid_unpinned (${text})`);
      const warning = run.tid("verify-unpinned");
      if ((await warning.count()) === 0 || !(await warning.first().isVisible())) fail("no visible verify-unpinned warning");
      const said = await run.text(warning, "verify-unpinned");
      if (!said.includes(`0x${genesis}`)) fail(`verify-unpinned does not name the chain 0x${genesis}: ${JSON.stringify(said)}`);
      if (/\bVALID\b(?! ON A CHAIN YOU HAVE NOT PINNED)/.test(await run.text(run.tid("verify-result"), "verify-result"))) {
        fail("an unpinned result shows a bare VALID");
      }
    };
    await run.step("original-unpinned", async () => {
      await clearPin();
      await expectUnpinned();
    });
    await run.step("original-pinned-elsewhere", async () => {
      await pinTo("ab".repeat(32));
      await expectUnpinned();
    });
    await run.step("pin-the-network-genesis", () => pinTo(genesis));
    const expectValid = async (how) => {
      const { status, text } = await verifyWith(file, how === "with-receipt");
      if (status !== "valid") fail(`the original file (${how}): data-status=${status}, expected valid (${text})`);
      if ((await run.tid("verify-unpinned").count()) > 0) fail("a pinned valid result shows the unpinned warning");
      const shown = await run.text(run.tid("verify-height"), "verify-height");
      if (shown !== String(height)) fail(`verify-height shows ${JSON.stringify(shown)}, expected ${height}`);
      const time = await run.text(run.tid("verify-time"), "verify-time");
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(time)) fail(`verify-time is not an ISO time: ${JSON.stringify(time)}`);
    };
    await run.step("original-by-digest-valid", () => expectValid("by-digest"));
    await run.step("original-with-receipt-valid", () => expectValid("with-receipt"));
    await run.step("share-link-carries-the-pin", async () => {
      const href = await run.tid("verify-share-link").first().getAttribute("href");
      const m = /^#\/verify\?digest=([0-9a-f]{64})&genesis=([0-9a-f]{64})$/.exec(href || "");
      if (!m || m[2] !== genesis) fail(`the share link ${JSON.stringify(href)} does not carry &genesis=${genesis}`);
      await clearPin();
      await run.page.goto("about:blank");
      await run.page.goto(`${run.base}/console/${href}`, { waitUntil: "load", timeout: STEP_TIMEOUT_MS });
      await run.settled("verify");
      const { status, text } = await run.result("verify", "verify-result");
      if (status !== "valid") fail(`the share link in a browser with no pin: data-status=${status}, expected valid (${text})`);
      await pinTo(genesis);
    });
    await run.step("tampered-with-receipt-invalid", async () => {
      const { status, text } = await verifyWith(tampered, true);
      if (status !== check) fail(`the tampered file: data-status=${status}, expected the failed check ${check} (${text})`);
      await run.expectText(run.tid("verify-check"), "verify-check", check);
      if ((await run.tid("verify-height").count()) > 0) fail("an invalid result shows a height");
    });
  },

  // A credential (or presentation) file dropped in the verify view shows the expected status; for a status other
  // than valid, the check that failed (data-check=status for revoked/suspended) carries that code. The verified
  // subject's claims are shown (vc-claim rows: each of `claims` with its value), with the note on what the checks
  // trust; no clock warning against a live node.
  // args: credential (path), status (valid|revoked|suspended|...), claims (optional: a JSON object name -> text).
  async "verify-credential"(run, args) {
    const [credential, wanted] = need(args, "credential", "status");
    if (!existsSync(credential)) fail(`no such file: ${credential}`);
    const claims = args.claims ? JSON.parse(args.claims) : {};
    await run.step(`credential-${wanted}`, async () => {
      await run.open("verify", "verify");
      await run.tid("vc-input").first().setInputFiles(credential, { timeout: STEP_TIMEOUT_MS });
      const { status, text } = await run.result("verify", "vc-result");
      if (status !== wanted) fail(`vc-result data-status=${status}, expected ${wanted} (${text})`);
      const checks = run.tid("vc-check");
      if ((await checks.count()) === 0) fail("no vc-check rows");
      const failed = [];
      for (const c of await checks.all()) {
        if ((await c.getAttribute("data-ok")) !== "true") {
          failed.push(`${await c.getAttribute("data-check")}:${await c.getAttribute("data-code")}`);
        }
      }
      const expected = wanted === "valid" ? [] : [`status:${wanted}`];
      if (JSON.stringify(failed) !== JSON.stringify(expected)) {
        fail(`failed checks ${JSON.stringify(failed)}, expected ${JSON.stringify(expected)} (${text})`);
      }
      const subject = run.tid("vc-subject");
      if ((await subject.count()) !== 1) fail(`expected one vc-subject, the page shows ${await subject.count()}`);
      if ((await subject.first().getAttribute("data-status")) !== wanted) fail("vc-subject's data-status is not the credential's");
      for (const [name, value] of Object.entries(claims)) {
        const row = subject.first().locator(`[data-testid="vc-claim"][data-name="${name}"]`);
        if ((await row.count()) !== 1) fail(`the verified claims do not include ${name}`);
        const shown = (await row.first().locator("td").nth(1).innerText()).trim();
        if (shown !== value) fail(`claim ${name} shows ${JSON.stringify(shown)}, expected ${JSON.stringify(value)}`);
      }
      if ((await run.tid("vc-trust").count()) === 0) fail("no vc-trust note (what the credential checks trust)");
      if ((await run.tid("clock-warning").count()) > 0) fail("a clock warning against a live node");
    });
  },

  // One screenshot of every view against the running network (the artifacts of issue 17's acceptance).
  // args: tx, height, account, did; status_list (optional).
  async views(run, args) {
    const [tx, height, account, did] = need(args, "tx", "height", "account", "did");
    const routes = [
      ["network", "network", "network"],
      ["explorer", "explorer", "explorer"],
      ["block", `block/${height}`, "block"],
      ["tx", `tx/${tx.replace(/^0x/i, "")}`, "tx"],
      ["account", `account/${account.replace(/^0x/i, "")}`, "account"],
      ["identity", "identity", "identity"],
      ["did", `did/${did}`, "did"],
      ["verify", "verify", "verify"],
      ["interchain", "interchain", "interchain"],
    ];
    if (args.status_list) routes.push(["status-list", `status-list/${args.status_list}`, "status-list"]);
    for (const [name, route, view] of routes) {
      await run.step(name, async () => {
        await run.open(route, view);
        await run.noError(view);
        const shown = (await run.tid(`view-${view}`).first().innerText()).trim();
        if (shown === "" || /view not available/i.test(shown)) fail(`the ${view} view is empty or not available`);
      });
    }
  },
};

// -- main ------------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const scenario = SCENARIOS[opts.scenario];
  if (!scenario) usage(`unknown scenario ${opts.scenario}`);
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    process.stderr.write(`run.mjs: no chromium at ${executablePath}: run \`make browser-tools\`\n`);
    process.exit(1);
  }
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (err) {
    process.stderr.write(`run.mjs: playwright-core is not installed (${err.message}): run \`make browser-tools\`\n`);
    process.exit(1);
  }
  mkdirSync(opts.out, { recursive: true });
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const browser = await chromium.launch({ executablePath, headless: true, args: root ? ["--no-sandbox"] : [] });
  let code = 0;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const run = new Run(page, opts.url, opts.out, opts.scenario);
    await scenario(run, opts.args);
    process.stdout.write(`scenario ${opts.scenario}: PASSED (${run.n} steps)\n`);
  } catch (err) {
    code = 1;
    const message = err instanceof Failure ? err.message : String(err && err.stack ? err.stack : err);
    process.stderr.write(`scenario ${opts.scenario}: FAILED: ${message}\n`);
    writeFileSync(path.join(opts.out, `${opts.scenario}-FAILED.txt`), message + "\n");
  } finally {
    await browser.close();
  }
  process.exit(code);
}

await main();
