"use strict";
// The download fallback against a release server on 127.0.0.1: a verified
// binary is cached and reused; a bad or missing checksum, an error status, a
// redirect loop or a stalled server is refused and leaves nothing in the cache.

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const test = require("node:test");

const { ensureBinary, expectedSum, cacheRoot, DEFAULT_BASE_URL } = require("../lib/download.js");

const KEY = "linux-x64";
const ASSET = "tokligence-linux-x64";
const VERSION = "1.2.3";
const RELEASE = `/download/v${VERSION}`;
const BINARY = Buffer.from('#!/bin/sh\necho "fake gateway"\n');

const TIMEOUT = { timeout: 20000 };

const sha256 = (data) => crypto.createHash("sha256").update(data).digest("hex");
const sumsLine = (name, data) => `${sha256(data)}  ${name}\n`;

// A release server: routes maps a path to a Buffer/string (200), a number
// (that status), or a function (req, res) that answers (or never does).
async function serve(routes) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    const route = routes[req.url];
    if (typeof route === "function") return route(req, res);
    if (typeof route === "number" || route === undefined) {
      res.writeHead(route || 404).end();
      return undefined;
    }
    res.writeHead(200, { "content-length": Buffer.byteLength(route) }).end(route);
    return undefined;
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    });
  return { base, requests, close };
}

function goodRelease(binary = BINARY) {
  return {
    [`${RELEASE}/SHA256SUMS`]:
      sumsLine("tokligence-win32-x64.exe", Buffer.from("other")) +
      sumsLine(`${ASSET}-musl`, Buffer.from("musl")) +
      sumsLine(ASSET, binary),
    [`${RELEASE}/${ASSET}`]: binary,
  };
}

// A stderr that is not a terminal, recording what was written.
function recorder() {
  const chunks = [];
  return { isTTY: false, write: (text) => chunks.push(text), text: () => chunks.join("") };
}

function tempCache() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tokligence-download-"));
  const env = { XDG_CACHE_HOME: dir, LOCALAPPDATA: dir };
  return { dir, env, folder: path.join(cacheRoot(env), "tokligence", VERSION) };
}

function cacheEntries(folder) {
  return fs.existsSync(folder) ? fs.readdirSync(folder) : [];
}

async function withRelease(routes, body) {
  const server = await serve(routes);
  const cache = tempCache();
  try {
    await body(server, cache);
  } finally {
    await server.close();
    fs.rmSync(cache.dir, { recursive: true, force: true });
  }
}

function download(server, cache, extra = {}) {
  return ensureBinary({
    key: KEY,
    version: VERSION,
    env: { ...cache.env, TOKLIGENCE_DOWNLOAD_BASE_URL: server.base },
    stderr: recorder(),
    ...extra,
  });
}

test("a binary matching SHA256SUMS is cached as an executable and reused offline", TIMEOUT, () =>
  withRelease(goodRelease(), async (server, cache) => {
    const stderr = recorder();
    const binary = await download(server, cache, { stderr });
    assert.equal(binary, path.join(cache.folder, ASSET));
    assert.deepEqual(fs.readFileSync(binary), BINARY);
    if (process.platform !== "win32") assert.ok(fs.statSync(binary).mode & 0o100);
    assert.deepEqual(cacheEntries(cache.folder), [ASSET]); // no partial file left
    assert.deepEqual(server.requests, [`${RELEASE}/SHA256SUMS`, `${RELEASE}/${ASSET}`]);
    assert.equal(stderr.text(), `downloading ${ASSET} ${VERSION}\n`);
    // Cached: no request, even with the mirror gone.
    await server.close();
    const again = await ensureBinary({
      key: KEY,
      version: VERSION,
      env: { ...cache.env, TOKLIGENCE_DOWNLOAD_BASE_URL: "http://127.0.0.1:9" },
      stderr: recorder(),
    });
    assert.equal(again, binary);
    assert.equal(server.requests.length, 2);
  }));

test("redirects are followed (GitHub sends assets elsewhere); trailing / ignored", TIMEOUT, () => {
  const routes = goodRelease();
  const moved = {
    [`${RELEASE}/SHA256SUMS`]: (req, res) =>
      res.writeHead(302, { location: "/objects/sums" }).end(),
    [`${RELEASE}/${ASSET}`]: (req, res) =>
      res.writeHead(301, { location: "/objects/asset" }).end(),
    "/objects/sums": routes[`${RELEASE}/SHA256SUMS`],
    "/objects/asset": (req, res) => res.writeHead(307, { location: "/objects/asset2" }).end(),
    "/objects/asset2": routes[`${RELEASE}/${ASSET}`],
  };
  return withRelease(moved, async (server, cache) => {
    const binary = await download(server, cache, {
      env: { ...cache.env, TOKLIGENCE_DOWNLOAD_BASE_URL: `${server.base}//` },
    });
    assert.deepEqual(fs.readFileSync(binary), BINARY);
    assert.equal(server.requests.length, 5);
  });
});

test("a binary not matching its checksum is refused and nothing is cached", TIMEOUT, () => {
  const routes = goodRelease();
  routes[`${RELEASE}/${ASSET}`] = Buffer.from('#!/bin/sh\necho "tampered"\n');
  return withRelease(routes, async (server, cache) => {
    await assert.rejects(download(server, cache), (err) => {
      assert.match(err.message, /^checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/download/);
      assert.match(err.message, new RegExp(`expected ${sha256(BINARY)}, got `));
      assert.match(err.message, /refusing to run it/);
      return true;
    });
    assert.deepEqual(cacheEntries(cache.folder), []);
  });
});

test("a release whose SHA256SUMS does not list the asset is refused", TIMEOUT, () => {
  const routes = goodRelease();
  // Only a longer name that starts with ours: not a checksum of our asset.
  routes[`${RELEASE}/SHA256SUMS`] = sumsLine(`${ASSET}-musl`, BINARY);
  return withRelease(routes, async (server, cache) => {
    await assert.rejects(download(server, cache), /lists no checksum for tokligence-linux-x64;/);
    assert.deepEqual(cacheEntries(cache.folder), []);
  });
});

test("an error status fails with the status and what to do offline", TIMEOUT, async () => {
  for (const missing of ["SHA256SUMS", ASSET]) {
    const routes = goodRelease();
    routes[`${RELEASE}/${missing}`] = 404;
    await withRelease(routes, async (server, cache) => {
      await assert.rejects(download(server, cache), (err) => {
        assert.match(err.message, /^could not download the gateway binary: HTTP 404 from /);
        assert.ok(err.message.includes(`${RELEASE}/${missing}`), err.message);
        for (const advice of [
          `npm install @tokligence/gateway-${KEY}`,
          `TOKLIGENCE_DOWNLOAD_BASE_URL (now ${server.base})`,
          path.join(cache.folder, ASSET),
          "pip install tokligence",
        ]) {
          assert.ok(err.message.includes(advice), advice);
        }
        return true;
      });
      assert.deepEqual(cacheEntries(cache.folder), []);
    });
  }
});

test("a redirect loop is given up", TIMEOUT, () => {
  const loop = {
    [`${RELEASE}/SHA256SUMS`]: (req, res) => res.writeHead(302, { location: req.url }).end(),
  };
  return withRelease(loop, async (server, cache) => {
    await assert.rejects(download(server, cache), /too many redirects from /);
    assert.equal(server.requests.length, 6); // the request and five redirects
  });
});

test("a server that never answers, or stops sending, fails when stalled", TIMEOUT, async () => {
  const stalls = {
    "no answer": { [`${RELEASE}/SHA256SUMS`]: () => {} },
    "half a body": {
      ...goodRelease(),
      [`${RELEASE}/${ASSET}`]: (req, res) => {
        res.writeHead(200, { "content-length": BINARY.length * 2 });
        res.write(BINARY);
      },
    },
  };
  for (const [what, routes] of Object.entries(stalls)) {
    await withRelease(routes, async (server, cache) => {
      const started = Date.now();
      await assert.rejects(download(server, cache, { stallTimeoutMs: 300 }), (err) => {
        assert.match(err.message, /^could not download the gateway binary: no data from /, what);
        assert.match(err.message, / for 0\.3 s\n/, what);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 5000, `${what}: ${elapsed} ms`);
      assert.deepEqual(cacheEntries(cache.folder), [], what);
    });
  }
});

test("a platform without a release binary is refused before any request", TIMEOUT, () =>
  withRelease(goodRelease(), async (server, cache) => {
    await assert.rejects(
      download(server, cache, { key: "freebsd-x64" }),
      /^Error: no prebuilt gateway binary for freebsd-x64; install the Python package: pip install/,
    );
    assert.deepEqual(server.requests, []);
  }));

test("SHA256SUMS lines: text or binary mode, any case, CRLF; exact names only", TIMEOUT, () => {
  const a = "a".repeat(64);
  const b = "B".repeat(64);
  const sums = `${a}  tokligence-linux-x64-musl\r\n${b} *tokligence-linux-x64\r\n\nnot a line\n`;
  assert.equal(expectedSum(Buffer.from(sums), "tokligence-linux-x64"), "b".repeat(64));
  assert.equal(expectedSum(Buffer.from(sums), "tokligence-linux-x64-musl"), a);
  assert.equal(expectedSum(Buffer.from(sums), "tokligence-linux"), null);
  const short = `${a.slice(1)}  tokligence-linux-x64\n`;
  assert.equal(expectedSum(Buffer.from(short), "tokligence-linux-x64"), null);
});

test("the cache lives where each OS keeps per-user caches", TIMEOUT, () => {
  const home = path.join(path.sep, "home", "u");
  assert.equal(cacheRoot({ XDG_CACHE_HOME: "/x" }, "linux", home), "/x");
  assert.equal(cacheRoot({}, "linux", home), path.join(home, ".cache"));
  const mac = path.join(home, "Library", "Caches");
  assert.equal(cacheRoot({ XDG_CACHE_HOME: "/x" }, "darwin", home), mac);
  assert.equal(cacheRoot({ LOCALAPPDATA: "C:\\L" }, "win32", home), "C:\\L");
  assert.equal(cacheRoot({}, "win32", home), path.join(home, "AppData", "Local"));
  assert.equal(DEFAULT_BASE_URL, "https://github.com/tokligence/tokligence-gateway/releases");
});
