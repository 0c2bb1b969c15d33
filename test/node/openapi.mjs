// Validates an OpenAPI document read from stdin with
// @seriousme/openapi-schema-validator, an implementation of the OpenAPI
// Initiative's own JSON Schemas that nobody here wrote. Prints
// {"valid": bool, "version": "3.1", "errors": [...]} on stdout.
import { Validator } from "@seriousme/openapi-schema-validator";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const validator = new Validator();
const res = await validator.validate(JSON.parse(input));
process.stdout.write(JSON.stringify({ valid: res.valid, version: validator.version, errors: res.errors ?? [] }));
