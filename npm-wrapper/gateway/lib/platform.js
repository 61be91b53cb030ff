"use strict";
// Which platform package this machine needs, and where its binary is.

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

function isMusl() {
  if (process.platform !== "linux") return false;
  try {
    // glibcVersionRuntime is set only when Node runs on glibc.
    const header = process.report.getReport().header;
    return !header.glibcVersionRuntime;
  } catch {
    return fs.existsSync("/etc/alpine-release");
  }
}

function platformKey() {
  return `${process.platform}-${process.arch}${isMusl() ? "-musl" : ""}`;
}

function binaryFile(key) {
  return key.startsWith("win32") ? "tokligence.exe" : "tokligence";
}

// The release asset of a platform: tokligence-linux-x64, tokligence-win32-x64.exe.
function assetName(key) {
  return `tokligence-${key}${key.startsWith("win32") ? ".exe" : ""}`;
}

function installedBinary(key) {
  let manifest;
  try {
    manifest = require.resolve(`@tokligence/gateway-${key}/package.json`);
  } catch {
    return null;
  }
  const binary = path.join(path.dirname(manifest), "bin", binaryFile(key));
  return fs.existsSync(binary) ? binary : null;
}

module.exports = { SUPPORTED, platformKey, binaryFile, assetName, installedBinary };
