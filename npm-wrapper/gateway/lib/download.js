"use strict";
// Fallback when no platform package is installed: fetch the release binary.
//
// The binary and the release's SHA256SUMS come from
//   <base>/download/v<version>/<asset>   and   <base>/download/v<version>/SHA256SUMS
// where <base> is the GitHub releases page of the project, or a mirror laid
// out the same way named by TOKLIGENCE_DOWNLOAD_BASE_URL. The binary is kept
// only if its SHA-256 matches the checksums file; it is written under a
// temporary name and renamed into the per-user cache, so the cache holds
// nothing but verified binaries and a second run needs no network.

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const https = require("https");
const os = require("os");
const path = require("path");

const { SUPPORTED, assetName } = require("./platform.js");

const DEFAULT_BASE_URL = "https://github.com/tokligence/tokligence-gateway/releases";
const CHECKSUMS = "SHA256SUMS";
const MAX_REDIRECTS = 5;
// No byte for this long means a dead connection (a whole download may take longer).
const STALL_TIMEOUT_MS = 30000;

// The per-user cache folder; platform and home are parameters for the tests.
function cacheRoot(env, platform = process.platform, home = os.homedir()) {
  if (platform === "win32") {
    return env.LOCALAPPDATA || path.join(home, "AppData", "Local");
  }
  if (platform === "darwin") return path.join(home, "Library", "Caches");
  return env.XDG_CACHE_HOME || path.join(home, ".cache");
}

function get(url, { onProgress, stallTimeoutMs = STALL_TIMEOUT_MS, redirects = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const client = url.startsWith("https:") ? https : url.startsWith("http:") ? http : null;
    if (client === null) {
      reject(new Error(`unsupported URL ${url}`));
      return;
    }
    const request = client.get(url, { headers: { "user-agent": "tokligence-npm" } }, (res) => {
      const status = res.statusCode || 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new Error(`too many redirects from ${url}`));
          return;
        }
        const next = new URL(res.headers.location, url).toString();
        resolve(get(next, { onProgress, stallTimeoutMs, redirects: redirects + 1 }));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status} from ${url}`));
        return;
      }
      const total = Number(res.headers["content-length"] || 0);
      const chunks = [];
      let received = 0;
      res.on("data", (chunk) => {
        chunks.push(chunk);
        received += chunk.length;
        if (onProgress) onProgress(received, total);
      });
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", reject);
    });
    request.setTimeout(stallTimeoutMs, () => {
      request.destroy(new Error(`no data from ${url} for ${stallTimeoutMs / 1000} s`));
    });
    request.on("error", reject);
  });
}

function progressBar(stream, label) {
  if (!stream.isTTY) {
    stream.write(`downloading ${label}\n`);
    return { update() {}, done() {} };
  }
  const width = 30;
  let last = -1;
  return {
    update(received, total) {
      const mb = (n) => (n / 1e6).toFixed(1);
      let line;
      if (total > 0) {
        const fraction = Math.min(received / total, 1);
        const percent = Math.floor(fraction * 100);
        if (percent === last) return;
        last = percent;
        const filled = Math.round(fraction * width);
        const bar = "#".repeat(filled) + "-".repeat(width - filled);
        line = `downloading ${label} [${bar}] ${percent}% ${mb(received)}/${mb(total)} MB`;
      } else {
        line = `downloading ${label} ${mb(received)} MB`;
      }
      stream.write(`\r${line}`);
    },
    done() {
      stream.write("\n");
    },
  };
}

function expectedSum(sums, asset) {
  for (const line of sums.toString("utf8").split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (match && match[2] === asset) return match[1].toLowerCase();
  }
  return null;
}

function offlineHelp(key, target, base) {
  return [
    `The platform package @tokligence/gateway-${key} is not installed (npm skips optional`,
    "dependencies with --omit=optional, and when they cannot be fetched), so the launcher tried",
    "to download the release binary instead. To run without network access:",
    `  - install the platform package too: npm install @tokligence/gateway-${key}`,
    "  - or mirror the release (binary and SHA256SUMS) on a reachable server and set",
    `    TOKLIGENCE_DOWNLOAD_BASE_URL (now ${base})`,
    `  - or put the verified binary at ${target}`,
    "  - or install the Python package: pip install tokligence",
  ].join("\n");
}

// stallTimeoutMs is for the tests (a stalled server fails them in a moment).
async function ensureBinary({
  key,
  version,
  env,
  stderr = process.stderr,
  stallTimeoutMs = STALL_TIMEOUT_MS,
}) {
  const asset = assetName(key);
  const folder = path.join(cacheRoot(env), "tokligence", version);
  const target = path.join(folder, asset);
  if (fs.existsSync(target)) return target;
  if (!SUPPORTED.includes(key)) {
    throw new Error(
      `no prebuilt gateway binary for ${key}; install the Python package: pip install tokligence`,
    );
  }
  const base = (env.TOKLIGENCE_DOWNLOAD_BASE_URL || DEFAULT_BASE_URL).replace(/\/+$/, "");
  const release = `${base}/download/v${version}`;
  let sums;
  let binary;
  try {
    sums = await get(`${release}/${CHECKSUMS}`, { stallTimeoutMs });
    const bar = progressBar(stderr, `${asset} ${version}`);
    try {
      binary = await get(`${release}/${asset}`, { onProgress: bar.update, stallTimeoutMs });
    } finally {
      bar.done();
    }
  } catch (err) {
    throw new Error(
      `could not download the gateway binary: ${err.message}\n${offlineHelp(key, target, base)}`,
    );
  }
  const expected = expectedSum(sums, asset);
  if (expected === null) {
    throw new Error(`${release}/${CHECKSUMS} lists no checksum for ${asset}; refusing to run it`);
  }
  const actual = crypto.createHash("sha256").update(binary).digest("hex");
  if (actual !== expected) {
    throw new Error(
      `checksum mismatch for ${release}/${asset}: expected ${expected}, got ${actual}; ` +
        "refusing to run it (a corrupted download or a tampered mirror)",
    );
  }
  fs.mkdirSync(folder, { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  fs.writeFileSync(partial, binary, { mode: 0o755 });
  fs.renameSync(partial, target);
  return target;
}

module.exports = { ensureBinary, expectedSum, cacheRoot, DEFAULT_BASE_URL };
