#!/usr/bin/env node
// Parse each Apex file named on the command line with the Apex grammar (@apexdevtools/apex-parser)
// and print every lexer/parser error as FILE:LINE:COLUMN: MESSAGE. Exit 1 when any file has an
// error, 2 on bad usage or an unreadable file, 0 otherwise. `.trigger` files are parsed as
// triggers, everything else as a class file.
"use strict";

const fs = require("node:fs");
const { ApexParserFactory, ApexErrorListener } = require("@apexdevtools/apex-parser");

class Collector extends ApexErrorListener {
    constructor(file) {
        super();
        this.file = file;
        this.errors = [];
    }

    apexSyntaxError(line, column, msg) {
        this.errors.push(`${this.file}:${line}:${column}: ${msg}`);
    }
}

function main(files) {
    if (files.length === 0) {
        console.error("usage: check-apex.cjs FILE.cls [FILE.cls ...]");
        return 2;
    }
    let failed = 0;
    for (const file of files) {
        let source;
        try {
            source = fs.readFileSync(file, "utf8");
        } catch (err) {
            console.error(`${file}: ${err.message}`);
            return 2;
        }
        const listener = new Collector(file);
        const { parser } = ApexParserFactory.createLexerAndParser(source, listener);
        if (file.endsWith(".trigger")) {
            parser.triggerUnit();
        } else {
            parser.compilationUnit();
        }
        for (const error of listener.errors) {
            console.log(error);
        }
        if (listener.errors.length > 0) {
            failed += 1;
        }
    }
    console.log(`check-apex: ${files.length} file(s) parsed, ${failed} with errors`);
    return failed > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
