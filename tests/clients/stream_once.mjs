// One streaming chat through the official OpenAI Node SDK (scripts/compose-smoke): prints the
// request id (X-Request-Id) on the first line and the streamed text on the second; exits 1
// unless the stream ended with a finish_reason.
//   node tests/clients/stream_once.mjs BASE_URL MODEL
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 60_000 });
const { data: stream, response } = await client.chat.completions
  .create({ model, messages: [{ role: 'user', content: 'Hello from compose' }], stream: true })
  .withResponse();
let text = '';
let finish = null;
for await (const chunk of stream) {
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
}
console.log(response.headers.get('x-request-id'));
console.log(text);
process.exit(finish ? 0 : 1);
