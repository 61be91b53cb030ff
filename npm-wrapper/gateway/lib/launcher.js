"use strict";
// The npm launcher: find this platform's gateway binary and run it.
//
// Theory of operation. npm installs exactly one of the optional
// dependencies @tokligence/gateway-<os>-<cpu>[-musl], the one whose os/cpu/libc
// fields match, and that package carries the onedir build (an executable and
// its _internal/ folder, which starts without unpacking anything). No install
// script runs (npm warns about them and many users disable them). If the
// platform package is missing (optional dependencies skipped, an unusual
// platform, a lockfile from another OS), download.js fetches the release's
// single-file binary once, checks its SHA-256 and caches it. download.js
// (https, crypto) is loaded only then: every start pays for what it requires.
//
// The binary runs as a child: Node cannot exec. The launcher forwards the
// signals it gets and mirrors the child's exit code or signal, and it passes
// its own pid in TOKLIGENCE_LAUNCHER_PID so that the gateway shuts down if the
// launcher is killed outright (SIGKILL cannot be forwarded).
//
// It also tells the gateway's update check that npm installed it
// (TOKLIGENCE_INSTALLED_BY: npx when npm runs us, npm otherwise) and, when npm
// said which registry it uses (npm exports npm_config_registry to what it runs
// only when it is not npm's default), that registry (TOKLIGENCE_NPM_REGISTRY);
// otherwise the gateway asks `npm config get` later, in the background.

const { spawn } = require("child_process");
const path = require("path");
const tty = require("tty");

const { platformKey, installedBinary } = require("./platform.js");

const PACKAGE = require("../package.json");
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGBREAK"];
// How often a launcher started by npm checks that its parent is still there.
const PARENT_POLL_MS = 250;
// Signals the launcher mirrors with an exit code instead of raising them.
const NOT_RERAISED = new Set(["SIGPIPE", "SIGUSR1"]);
// A raised signal ends the launcher at once; this is only a backstop.
const RERAISE_GRACE_MS = 100;

async function main(name) {
  const key = platformKey();
  let binary = installedBinary(key);
  if (binary === null) {
    try {
      const { ensureBinary } = require("./download.js");
      binary = await ensureBinary({ key, version: PACKAGE.version, env: process.env });
    } catch (err) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(1);
    }
  }
  run(binary, name, process.argv.slice(2));
}

function run(binary, name, args) {
  const child = spawn(binary, args, {
    stdio: "inherit",
    // The binary acts as gatewayd when invoked under that name.
    argv0: name,
    env: {
      ...process.env,
      ...gatewayEnv(process.env),
      TOKLIGENCE_LAUNCHER_PID: String(process.pid),
    },
    windowsHide: false,
  });
  const forwarders = new Map();
  for (const signal of FORWARDED) {
    const forward = () => {
      // A terminal's Ctrl-C reaches the whole foreground process group, the
      // gateway included, so it has seen this SIGINT already. (isatty, not
      // process.stdin: that would open a stream on the agent's terminal.)
      if (signal === "SIGINT" && tty.isatty(0)) return;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    try {
      process.on(signal, forward);
      forwarders.set(signal, forward);
    } catch {
      // A signal this platform does not have (SIGBREAK off Windows).
    }
  }
  watchParent(child);
  child.on("error", (err) => {
    process.stderr.write(`${name}: cannot run ${path.basename(binary)}: ${err.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    for (const [sig, forward] of forwarders) process.removeListener(sig, forward);
    if (signal !== null) {
      // Die of the same signal, so that our parent sees what happened. Node
      // does not die of every signal: it ignores SIGPIPE, and SIGUSR1 starts
      // its debugger (so that one is not raised). Still alive, exit as a
      // shell reports a death by signal n: 128+n.
      if (!NOT_RERAISED.has(signal)) process.kill(process.pid, signal);
      const number = require("os").constants.signals[signal] || 0;
      setTimeout(() => process.exit(128 + number), RERAISE_GRACE_MS);
      return;
    }
    process.exit(code === null ? 1 : code);
  });
}

function gatewayEnv(env) {
  const extra = { TOKLIGENCE_INSTALLED_BY: env.npm_command === "exec" ? "npx" : "npm" };
  if (env.npm_config_registry) extra.TOKLIGENCE_NPM_REGISTRY = env.npm_config_registry;
  return extra;
}

// Under `npx` or `npm run`, npm runs the launcher through `sh -c`; told to
// stop, npm signals that shell, which dies without passing the signal on and
// leaves the launcher re-parented. Re-parenting is the launcher's cue to stop
// the gateway. (Only under npm: `nohup tokligence &` must outlive its shell.)
function watchParent(child) {
  if (!process.env.npm_command || process.platform === "win32") return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }, PARENT_POLL_MS);
  timer.unref();
}

module.exports = { main, run, gatewayEnv };
