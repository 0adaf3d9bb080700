#!/usr/bin/env node
// Lint Lightning Web Component JavaScript with the rules of eslint.config.cjs (the LWC plugin's
// rules): each argument is a .js file or a folder (every .js below it). Prints ESLint's report and
// exits 1 on any error or warning, 2 on bad usage or a crash, 0 when clean.
"use strict";

const path = require("node:path");
const { ESLint } = require("eslint");
const config = require("./eslint.config.cjs");

async function main(args) {
    if (args.length === 0) {
        console.error("usage: check-lwc.cjs FILE.js|FOLDER [...]");
        return 2;
    }
    const targets = args.map((arg) => path.resolve(arg));
    // Generated trees live anywhere (temporary folders in tests); a config file only applies below
    // its own folder, so the config is passed in and the filesystem root is the base path.
    const eslint = new ESLint({
        cwd: path.parse(targets[0]).root,
        overrideConfigFile: true,
        overrideConfig: config,
        errorOnUnmatchedPattern: true,
    });
    const results = await eslint.lintFiles(targets.map((target) => path.relative(path.parse(target).root, target)));
    const formatter = await eslint.loadFormatter("stylish");
    const report = await formatter.format(results);
    if (report) {
        console.log(report);
    }
    const problems = results.reduce((sum, result) => sum + result.errorCount + result.warningCount, 0);
    console.log(`check-lwc: ${results.length} file(s) linted, ${problems} problem(s)`);
    return problems > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (error) => {
        console.error(error && error.stack ? error.stack : String(error));
        process.exitCode = 2;
    },
);
