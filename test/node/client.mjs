// client.mjs drives an MCP server with the official TypeScript SDK, so the Go
// tests can check Gatekeeper against a client nobody here wrote.
//
// Input: one JSON object, as the first argument or on stdin (stdin keeps
// bearer tokens out of the process list):
//
//   {"command": "bin", "args": ["serve"], "env": {"K": "V"},   // stdio, or
//    "url": "http://127.0.0.1:PORT/mcp", "headers": {"Authorization": "Bearer …"},
//    "calls": [{"name": "tool", "arguments": {…}}, …]}
//
// Output on stdout: one JSON object,
//
//   {"tools": ["name", …],
//    "calls": [{"name", "isError", "text", "structuredContent"} | {"name", "error"}, …]}
//
// "text" joins the text content blocks with newlines. A JSON-RPC error (as
// opposed to a tool result with isError) is reported as "error" and the
// remaining calls still run. Failing to connect or to list tools exits 1 with
// the reason on stderr. In stdio mode the server's stderr passes through to
// ours, and its environment is the SDK's safe default (PATH, HOME, …) plus env.
//
// With "elicit": true the client declares URL-mode elicitation, as a client
// that can open a link for its user does: each elicitation/create is
// accepted and reported as it happens, one JSON line on file descriptor 3
// ({"elicitation": params}), and so is each notifications/elicitation/complete
// ({"complete": elicitationId}). With "trace": true every JSON-RPC message
// the client sends or receives after connecting goes there too
// ({"trace": message}): everything the model side could ever see.

import { readFileSync, writeSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  ElicitRequestSchema,
  ElicitationCompleteNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const spec = JSON.parse(process.argv[2] ?? readFileSync(0, 'utf8'));

const transport = spec.url
  ? new StreamableHTTPClientTransport(new URL(spec.url), {
      requestInit: { headers: spec.headers ?? {} },
    })
  : new StdioClientTransport({
      command: spec.command,
      args: spec.args ?? [],
      env: spec.env ?? {},
    });

// report writes one event line on fd 3, as it happens.
const report = (event) => writeSync(3, JSON.stringify(event) + '\n');

const client = new Client(
  { name: 'gatekeeper-nodetest', version: '0.0.0' },
  spec.elicit ? { capabilities: { elicitation: { url: {} } } } : {},
);
if (spec.elicit) {
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    report({ elicitation: request.params });
    return { action: 'accept' };
  });
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, async (n) => {
    report({ complete: n.params.elicitationId });
  });
}
try {
  await client.connect(transport);
  if (spec.trace) {
    const received = transport.onmessage;
    transport.onmessage = (message, extra) => {
      report({ trace: message });
      received?.(message, extra);
    };
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      report({ trace: message });
      return send(message, options);
    };
  }
  const { tools } = await client.listTools();
  const calls = [];
  for (const { name, arguments: args } of spec.calls ?? []) {
    try {
      const res = await client.callTool({ name, arguments: args ?? {} });
      calls.push({
        name,
        isError: res.isError === true,
        text: (res.content ?? [])
          .filter((c) => c.type === 'text')
          .map((c) => c.text)
          .join('\n'),
        structuredContent: res.structuredContent ?? null,
      });
    } catch (err) {
      calls.push({ name, error: String(err?.message ?? err) });
    }
  }
  process.stdout.write(JSON.stringify({ tools: tools.map((t) => t.name), calls }) + '\n');
} catch (err) {
  console.error(`client.mjs: ${err?.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await client.close().catch(() => {});
}
