#!/usr/bin/env node
// Run Salesforce Code Analyzer's engine over the files and folders named on the command line, with the
// rule selectors AppExchange and Recommended:Security (what `sf code-analyzer run --rule-selector
// AppExchange --rule-selector Recommended:Security` runs, without the `sf` plugin): the core
// (@salesforce/code-analyzer-core) with the PMD engine (@salesforce/code-analyzer-pmd-engine, which
// needs Java). Prints one JSON object: {"rules": N, "violations": [{rule, engine, severity, file,
// line, message}, ...]}. Exit 0 when it ran (whatever it found), 2 on bad usage or a failure to run.
"use strict";

const path = require("node:path");
const { CodeAnalyzer, CodeAnalyzerConfig, EventType, LogLevel } = require("@salesforce/code-analyzer-core");
const pmd = require("@salesforce/code-analyzer-pmd-engine");

const SELECTORS = ["AppExchange", "Recommended:Security"];

async function main(args) {
    if (args.length === 0) {
        console.error("usage: run-code-analyzer.cjs FILE|FOLDER [...]");
        return 2;
    }
    const targets = args.map((arg) => path.resolve(arg));
    const analyzer = new CodeAnalyzer(CodeAnalyzerConfig.withDefaults());
    analyzer.onEvent(EventType.LogEvent, (event) => {
        if (event.logLevel <= LogLevel.Error) {
            console.error(`code-analyzer: ${event.message}`);
        }
    });
    await analyzer.addEnginePlugin(pmd.createEnginePlugin());
    const workspace = await analyzer.createWorkspace(targets);
    const rules = await analyzer.selectRules(SELECTORS, { workspace });
    const results = await analyzer.run(rules, { workspace });
    const violations = results.getViolations().map((violation) => {
        const location = violation.getPrimaryLocation();
        return {
            rule: violation.getRule().getName(),
            engine: violation.getRule().getEngineName(),
            severity: violation.getRule().getSeverityLevel(),
            file: location.getFile() || null,
            line: location.getStartLine() || null,
            message: violation.getMessage(),
        };
    });
    console.log(JSON.stringify({ rules: rules.getCount(), violations }, null, 2));
    return 0;
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
