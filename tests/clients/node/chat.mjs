// The openai npm package, unmodified, against the gateway: one chat, one stream, one tool call.
// Reads GATEWAY_URL, GATEWAY_KEY and MODEL; prints one JSON line of what it got (checked by
// tests/clients/test_openai_node.py).
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.GATEWAY_URL}/v1`, apiKey: process.env.GATEWAY_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const messages = [{ role: "user", content: "What is a basis point?" }];

const { data: reply, response } = await client.chat.completions.create({ model, messages }).withResponse();

let streamed = "";
let usage = null;
const stream = await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  usage = chunk.usage ?? usage;
}

let refused = null;
try {
  await client.chat.completions.create({ model, messages, store: true });
} catch (error) {
  refused = { status: error.status, param: error.param, type: error.type };
}

console.log(JSON.stringify({
  content: reply.choices[0].message.content,
  refusal: reply.choices[0].message.refusal,
  finish_reason: reply.choices[0].finish_reason,
  route: response.headers.get("x-gateway-route"),
  streamed,
  total_tokens: usage?.total_tokens ?? null,
  refused,
}));
