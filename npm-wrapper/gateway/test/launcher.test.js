"use strict";
// The launcher around a stand-in gateway (test/fixtures/fake-gateway.js):
// arguments, name and launcher pid reach it; the launcher forwards signals,
// mirrors its exit code or the signal it died of, and under npm stops it
// when npm's shell goes away.

const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const test = require("node:test");

const { platformKey, assetName } = require("../lib/platform.js");
const PACKAGE = require("../package.json");

const NODE = process.execPath;
const RUN = path.join(__dirname, "fixtures", "run-launcher.js");
const FAKE = path.join(__dirname, "fixtures", "fake-gateway.js");
const BIN = path.join(__dirname, "..", "bin");
const POSIX = process.platform !== "win32";
const TIMEOUT = { timeout: 30000 };

// The tests' environment without npm's variables (`npm test` sets
// npm_command, which changes what the launcher does) or the user's settings.
function cleanEnv(extra = {}) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(npm_|TOKLIGENCE_)/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

// Runs a command to its end: its exit code or signal, stdout and stderr. One
// still running after timeoutMs is killed and fails the test (a launcher that
// never forwards a signal would otherwise wait forever).
function finish(child, timeoutMs = 15000) {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function launcher(args, env = cleanEnv()) {
  return spawn(NODE, [RUN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
}

async function until(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function read(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

// Alive and not a zombie (a launcher re-parented to an init that is slow to reap).
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function killQuietly(pid) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tokligence-launcher-"));
}

test("arguments, the bin's name as argv0 and the launcher pid reach it", TIMEOUT, async () => {
  const child = launcher(["gatewayd", NODE, FAKE, "report", "--port", "1", "a b"]);
  const result = await finish(child);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {
    argv0: "gatewayd",
    args: ["--port", "1", "a b"],
    launcherPid: String(child.pid),
  });
});

test("the binary's exit code is the launcher's", TIMEOUT, async () => {
  for (const code of [0, 1, 3, 255]) {
    const result = await finish(launcher(["tokligence", NODE, FAKE, "exit", String(code)]));
    assert.deepEqual([result.code, result.signal], [code, null], result.stderr);
  }
});

test("a binary that cannot be started fails with exit code 1 and says why", TIMEOUT, async () => {
  const missing = path.join(__dirname, "fixtures", "no-such-binary");
  const result = await finish(launcher(["tokligence", missing]));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^tokligence: cannot run no-such-binary: spawn .*ENOENT/);
});

test("SIGTERM, SIGINT, SIGHUP and SIGQUIT are forwarded; the binary's code is mirrored", {
  ...TIMEOUT,
  skip: !POSIX && "POSIX signals",
}, async () => {
  const dir = tempDir();
  try {
    const cases = [
      ["SIGTERM", 0],
      ["SIGINT", 7], // forwarded: stdin is not a terminal (one would have signalled both)
      ["SIGHUP", 8],
      ["SIGQUIT", 9],
    ];
    for (const [signal, code] of cases) {
      const log = path.join(dir, `${signal}.log`);
      const child = launcher(["tokligence", NODE, FAKE, "wait", log, String(code)]);
      const done = finish(child);
      await until("the binary", () => read(log).startsWith("ready"));
      child.kill(signal);
      const result = await done;
      assert.deepEqual([result.code, result.signal], [code, null], `${signal}: ${result.stderr}`);
      assert.match(read(log), new RegExp(`^ready \\d+\\ngot ${signal}\\n$`), signal);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a binary killed by a signal: the launcher dies of the same signal", {
  ...TIMEOUT,
  skip: !POSIX && "POSIX signals",
}, async () => {
  for (const signal of ["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP"]) {
    const result = await finish(launcher(["tokligence", NODE, FAKE, "die", signal]));
    assert.deepEqual([result.code, result.signal], [null, signal], result.stderr);
  }
});

test("signals Node does not die of (SIGPIPE, SIGUSR1) give the shell's 128+n", {
  ...TIMEOUT,
  skip: !POSIX && "POSIX signals",
}, async () => {
  // Node ignores SIGPIPE, and SIGUSR1 would start its debugger: re-raising
  // either would leave the launcher alive (or listening for a debugger).
  for (const signal of ["SIGPIPE", "SIGUSR1"]) {
    const name = signal.slice(3);
    const result = await finish(launcher(["tokligence", "/bin/sh", "-c", `kill -${name} $$`]));
    const code = 128 + os.constants.signals[signal];
    assert.deepEqual([result.code, result.signal], [code, null], `${signal}: ${result.stderr}`);
    assert.equal(result.stderr, "", signal);
  }
});

// The launcher between a parent (npm's `sh -c`) and the stand-in gateway.
async function orphan(env) {
  const dir = tempDir();
  const log = path.join(dir, "events.log");
  const command = [RUN, "tokligence", NODE, FAKE, "wait", log, "0"];
  const script = `require("child_process").spawn(process.execPath, ${JSON.stringify(command)}, {
    stdio: "ignore",
  })`;
  const middle = spawn(NODE, ["-e", script], { env, stdio: "ignore" });
  const ready = await until("the binary", () => read(log).match(/^ready (\d+)/));
  const gateway = Number(ready[1]);
  const environ = fs.readFileSync(`/proc/${gateway}/environ`, "utf8");
  const launcherPid = Number(environ.match(/TOKLIGENCE_LAUNCHER_PID=(\d+)/)[1]);
  middle.kill("SIGKILL");
  return { dir, log, gateway, launcherPid };
}

test("under npm, the launcher stops the binary when its parent dies", {
  ...TIMEOUT,
  skip: process.platform !== "linux" && "reads /proc",
}, async () => {
  const run = await orphan(cleanEnv({ npm_command: "exec" }));
  try {
    await until("SIGTERM", () => read(run.log).includes("got SIGTERM\n"));
    await until("the launcher's exit", () => !alive(run.launcherPid));
  } finally {
    killQuietly(run.gateway);
    killQuietly(run.launcherPid);
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
});

test("outside npm, the launcher outlives its parent (nohup tokligence &)", {
  ...TIMEOUT,
  skip: process.platform !== "linux" && "reads /proc",
}, async () => {
  const run = await orphan(cleanEnv());
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000)); // four parent checks under npm
    assert.ok(alive(run.launcherPid) && alive(run.gateway));
    assert.equal(read(run.log), `ready ${run.gateway}\n`);
  } finally {
    killQuietly(run.gateway);
    killQuietly(run.launcherPid);
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
});

test("bin/tokligence.js and bin/gatewayd.js run the cached binary", {
  ...TIMEOUT,
  skip: !POSIX && "a shell script as the binary",
}, async () => {
  // No platform package is installed here, so main() takes the binary from the
  // download cache (download.test.js covers filling it).
  const cache = tempDir();
  try {
    const folder = path.join(cache, "tokligence", PACKAGE.version);
    fs.mkdirSync(folder, { recursive: true });
    const script = `#!/bin/sh\nexec "${NODE}" "${FAKE}" report "$@"\n`;
    fs.writeFileSync(path.join(folder, assetName(platformKey())), script, { mode: 0o755 });
    for (const bin of ["tokligence.js", "gatewayd.js"]) {
      const child = spawn(NODE, [path.join(BIN, bin), "serve", "--port", "1"], {
        env: cleanEnv({
          XDG_CACHE_HOME: cache,
          TOKLIGENCE_DOWNLOAD_BASE_URL: "http://127.0.0.1:9",
        }),
      });
      const result = await finish(child);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.deepEqual(report.args, ["serve", "--port", "1"], bin);
      assert.equal(report.launcherPid, String(child.pid), bin);
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
