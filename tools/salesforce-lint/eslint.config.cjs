// ESLint (v9 flat config) for Lightning Web Components: the rules of @lwc/eslint-plugin-lwc for
// platform components, plus eslint's recommended rules, parsed by @babel/eslint-parser because LWC
// uses decorators and class fields (as the plugin's README prescribes). Left out: the ssr-* rules
// (server-side rendering, which these components do not use) and the deprecated
// no-dupe-class-members (eslint's own rule of that name is in the recommended set).
"use strict";

const js = require("@eslint/js");
const babelParser = require("@babel/eslint-parser");
const lwc = require("@lwc/eslint-plugin-lwc");

// The wire adapters a generated component may use: the Apex ones and Lightning Data Service.
const wireAdapters = {
    adapters: [
        { module: "@salesforce/apex", identifier: "*" },
        { module: "lightning/uiRecordApi", identifier: "getRecord" },
    ],
};

module.exports = [
    js.configs.recommended,
    {
        files: ["**/*.js"],
        languageOptions: {
            parser: babelParser,
            parserOptions: {
                requireConfigFile: false,
                babelOptions: {
                    parserOpts: {
                        plugins: ["classProperties", ["decorators", { decoratorsBeforeExport: false }]],
                    },
                },
            },
            sourceType: "module",
            globals: {
                console: "readonly",
                window: "readonly",
                document: "readonly",
            },
        },
        plugins: { "@lwc/lwc": lwc },
        rules: {
            "@lwc/lwc/consistent-component-name": "error",
            "@lwc/lwc/newer-version-available": "error",
            "@lwc/lwc/no-api-reassignments": "error",
            "@lwc/lwc/no-async-await": "error",
            "@lwc/lwc/no-async-operation": "error",
            "@lwc/lwc/no-attributes-during-construction": "error",
            "@lwc/lwc/no-deprecated": "error",
            "@lwc/lwc/no-disallowed-lwc-imports": "error",
            "@lwc/lwc/no-document-query": "error",
            "@lwc/lwc/no-for-of": "error",
            "@lwc/lwc/no-inner-html": "error",
            "@lwc/lwc/no-leading-uppercase-api-name": "error",
            "@lwc/lwc/no-leaky-event-listeners": "error",
            "@lwc/lwc/no-rest-parameter": "error",
            "@lwc/lwc/no-template-children": "error",
            "@lwc/lwc/no-unexpected-wire-adapter-usages": ["error", wireAdapters],
            "@lwc/lwc/no-unknown-wire-adapters": ["error", wireAdapters],
            "@lwc/lwc/prefer-custom-event": "error",
            "@lwc/lwc/valid-api": "error",
            "@lwc/lwc/valid-graphql-wire-adapter-callback-parameters": "error",
            "@lwc/lwc/valid-track": "error",
            "@lwc/lwc/valid-wire": "error",
        },
    },
];
