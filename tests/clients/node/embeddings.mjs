// The official `openai` npm package against the gateway's POST /v1/embeddings (tests/embeddings/test_node_client.py).
// Reads GATEWAY_URL, GATEWAY_KEY and MODEL; prints what it got as one JSON line.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.GATEWAY_URL}/v1`, apiKey: process.env.GATEWAY_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const out = {};

const floats = await client.embeddings.create({
  model, input: ["What is a bond?", "Explain duration risk."], encoding_format: "float",
});
out.float = floats.data.map((d) => d.embedding);
out.usage = floats.usage;
out.object = floats.object;

// Without encoding_format the SDK asks for base64 and decodes it itself.
const decoded = await client.embeddings.create({ model, input: "Interest rate swaps" });
out.default = Array.from(decoded.data[0].embedding);

const { response } = await client.embeddings
  .create({ model, input: ["Statement for card 4111 1111 1111 1111"] })
  .withResponse();
out.card = { target: response.headers.get("x-gateway-target"), level: response.headers.get("x-gateway-level") };

try {
  await client.embeddings.create({ model, input: [] });
  out.bad = null;
} catch (error) {
  out.bad = { status: error.status, type: error.type, param: error.param, name: error.constructor.name };
}
console.log(JSON.stringify(out));
