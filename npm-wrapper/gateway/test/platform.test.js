"use strict";
// Which platform package a machine needs, and finding its executable.

const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const test = require("node:test");

const {
  SUPPORTED,
  isMusl,
  platformKey,
  binaryFile,
  assetName,
  installedBinary,
} = require("../lib/platform.js");
const PACKAGE = require("../package.json");

// Node's process.platform, process.arch and the C library -> the package's key.
const MACHINES = [
  ["linux", "x64", false, "linux-x64"],
  ["linux", "x64", true, "linux-x64-musl"],
  ["linux", "arm64", false, "linux-arm64"],
  ["darwin", "x64", false, "darwin-x64"],
  ["darwin", "arm64", false, "darwin-arm64"],
  ["win32", "x64", false, "win32-x64"],
];

test("each supported machine maps to a key the main package depends on", () => {
  for (const [platform, arch, musl, key] of MACHINES) {
    assert.equal(platformKey(platform, arch, musl), key);
  }
  assert.deepEqual(MACHINES.map((m) => m[3]).sort(), [...SUPPORTED].sort());
  // One optional dependency per supported key, and no other.
  assert.deepEqual(
    Object.keys(PACKAGE.optionalDependencies).sort(),
    SUPPORTED.map((key) => `@tokligence/gateway-${key}`).sort(),
  );
});

test("unsupported machines get keys outside the supported list", () => {
  // download.js refuses these with a hint at pip (see download.test.js).
  const unsupported = [
    platformKey("linux", "arm64", true),
    platformKey("win32", "arm64", false),
    platformKey("linux", "ia32", false),
    platformKey("freebsd", "x64", false),
    platformKey("aix", "ppc64", false),
  ];
  assert.deepEqual(unsupported, [
    "linux-arm64-musl",
    "win32-arm64",
    "linux-ia32",
    "freebsd-x64",
    "aix-ppc64",
  ]);
  for (const key of unsupported) assert.ok(!SUPPORTED.includes(key), key);
});

test("only Linux is ever musl, and the fast check agrees with Node's own report", () => {
  assert.equal(isMusl("darwin"), false);
  assert.equal(isMusl("win32"), false);
  if (process.platform === "linux") {
    // The fast path reads /usr/bin/ldd; Node's report knows the C library it runs on.
    const onGlibc = Boolean(process.report.getReport().header.glibcVersionRuntime);
    assert.equal(isMusl(), !onGlibc);
    assert.equal(platformKey(), `linux-${process.arch}${onGlibc ? "" : "-musl"}`);
  }
});

test("executable and release asset names: .exe only on Windows", () => {
  assert.equal(binaryFile("win32-x64"), "tokligence.exe");
  assert.equal(binaryFile("linux-x64-musl"), "tokligence");
  assert.equal(assetName("win32-x64"), "tokligence-win32-x64.exe");
  assert.equal(assetName("darwin-arm64"), "tokligence-darwin-arm64");
  assert.equal(assetName("linux-x64-musl"), "tokligence-linux-x64-musl");
});

function fakePackage(root, key, { executable = true } = {}) {
  const folder = path.join(root, "node_modules", "@tokligence", `gateway-${key}`);
  fs.mkdirSync(path.join(folder, "bin", "tokligence", "_internal"), { recursive: true });
  fs.writeFileSync(path.join(folder, "package.json"), JSON.stringify({ name: key }));
  const binary = path.join(folder, "bin", "tokligence", binaryFile(key));
  if (executable) fs.writeFileSync(binary, "", { mode: 0o755 });
  return binary;
}

test("the installed platform package's executable is found in bin/tokligence/", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tokligence-platform-"));
  try {
    const linux = fakePackage(root, "linux-x64");
    const windows = fakePackage(root, "win32-x64");
    assert.equal(installedBinary("linux-x64", [root]), linux);
    assert.equal(installedBinary("win32-x64", [root]), windows);
    assert.ok(windows.endsWith(path.join("bin", "tokligence", "tokligence.exe")));
    // Not installed: null, and the launcher falls back to the download.
    assert.equal(installedBinary("darwin-arm64", [root]), null);
    // Installed without its executable (a broken install): the same fallback.
    fakePackage(root, "linux-arm64", { executable: false });
    assert.equal(installedBinary("linux-arm64", [root]), null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
