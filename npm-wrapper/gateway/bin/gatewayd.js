#!/usr/bin/env node
"use strict";
require("../lib/launcher.js").main("gatewayd");
