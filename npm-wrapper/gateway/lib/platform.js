"use strict";
// Which platform package this machine needs, and where its executable is.

const fs = require("fs");
const path = require("path");

// Platforms a release carries a binary for (npm's os-cpu names).
const SUPPORTED = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64",
];

function isMusl(platform = process.platform) {
  if (platform !== "linux") return false;
  // Fast path, read at every start: ldd is a script naming its C library
  // (a diagnostic report, below, takes ~5 ms to build).
  try {
    const ldd = fs.readFileSync("/usr/bin/ldd", "latin1");
    if (ldd.includes("musl")) return true;
    if (ldd.includes("GNU C Library") || ldd.includes("GLIBC")) return false;
  } catch {
    // No readable ldd: ask Node.
  }
  try {
    // glibcVersionRuntime is set only when Node runs on glibc.
    const header = process.report.getReport().header;
    return !header.glibcVersionRuntime;
  } catch {
    return fs.existsSync("/etc/alpine-release");
  }
}

// This machine's key; the parameters are for the tests.
function platformKey(platform = process.platform, arch = process.arch, musl = isMusl(platform)) {
  return `${platform}-${arch}${musl ? "-musl" : ""}`;
}

function binaryFile(key) {
  return key.startsWith("win32") ? "tokligence.exe" : "tokligence";
}

// The release asset of a platform: tokligence-linux-x64, tokligence-win32-x64.exe.
function assetName(key) {
  return `tokligence-${key}${key.startsWith("win32") ? ".exe" : ""}`;
}

// The platform package carries the onedir build: bin/tokligence/ holds the
// executable and its _internal/ folder (it starts without unpacking).
// `paths` (for the tests) replaces the folders searched for node_modules.
function installedBinary(key, paths) {
  let manifest;
  try {
    const id = `@tokligence/gateway-${key}/package.json`;
    manifest = paths ? require.resolve(id, { paths }) : require.resolve(id);
  } catch {
    return null;
  }
  const binary = path.join(path.dirname(manifest), "bin", "tokligence", binaryFile(key));
  return fs.existsSync(binary) ? binary : null;
}

module.exports = { SUPPORTED, isMusl, platformKey, binaryFile, assetName, installedBinary };
