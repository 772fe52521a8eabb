// Background responses and resumable streams (issue 18, part 2) with the official OpenAI Node
// SDK, against two API servers (LLMPROXY_URL and LLMPROXY_URL_B) in front of one mock worker
// slowed to a token every few milliseconds, and the audit storing into a scratch database. The
// driver (compat_e2e_test.cpp) then checks the audit's rows for the ids written to
// LLMPROXY_IDS_FILE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { url, model, testCase } from './cases.mjs';

const urlB = process.env.LLMPROXY_URL_B;
assert.ok(urlB, 'LLMPROXY_URL_B is not set: run these tests through compat_e2e_test');
const idsFile = process.env.LLMPROXY_IDS_FILE;
assert.ok(idsFile, 'LLMPROXY_IDS_FILE is not set: run these tests through compat_e2e_test');

// No retries: a failure must show, not be papered over.
const a = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });
const b = new OpenAI({ baseURL: `${urlB}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });

const ids = {};
function remember(name, id) {
  ids[name] = id.replace(/^resp_/, '');
  writeFileSync(idsFile, JSON.stringify(ids));
}

/// Polls `client` for `id` until `done(response)` holds, checking each answer on the way; at
/// most `ms` (a bound, not a guess: the loop ends as soon as the state is reached).
async function pollUntil(client, id, done, check, ms = 20_000) {
  const give_up = Date.now() + ms;
  for (;;) {
    const r = await client.responses.retrieve(id);
    check(r);
    if (done(r)) return r;
    assert.ok(Date.now() < give_up, `response ${id} still ${r.status} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('background create answers queued at once; polling sees the text grow, then completed', async () => {
  const c = testCase('background');
  const r = await a.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens, background: true });
  remember('polled', r.id);
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'queued');
  assert.equal(r.background, true);
  assert.deepEqual(r.output, []);
  const seen = new Set();
  const got = await pollUntil(a, r.id, (x) => x.status === 'completed', (x) => {
    assert.ok(['queued', 'in_progress', 'completed'].includes(x.status), x.status);
    seen.add(x.status);
    if (x.status === 'in_progress') assert.ok(c.text.startsWith(x.output_text), x.output_text);
  });
  assert.equal(got.output_text, c.text);
  assert.equal(got.background, true);
  assert.equal(got.usage.output_tokens, c.max_tokens);
  assert.ok(seen.has('in_progress'), `never saw it in progress: ${[...seen]}`);
  // The other server reads the same stored response.
  const other = await b.responses.retrieve(r.id);
  assert.equal(other.status, 'completed');
  assert.equal(other.output_text, c.text);
});

test('cancel on the other server stops a running background response', async () => {
  const c = testCase('long');
  const r = await a.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens, background: true });
  remember('cancelled', r.id);
  await pollUntil(a, r.id, (x) => x.status === 'in_progress', () => {});
  const cancelled = await b.responses.cancel(r.id);
  assert.equal(cancelled.status, 'cancelled');
  const got = await a.responses.retrieve(r.id);
  assert.equal(got.status, 'cancelled');
  assert.ok(got.output_text.length < c.text.length, 'it ran to its end');
  // Cancelling again answers it as it is.
  assert.equal((await b.responses.cancel(r.id)).status, 'cancelled');
});

test('a stream dropped on one server resumes on the other with exactly the missing events', async () => {
  const c = testCase('background');
  const r = await a.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens, background: true });
  remember('resumed', r.id);
  const first = [];
  const stream = await a.responses.retrieve(r.id, { stream: true });
  for await (const e of stream) {
    first.push(e);
    if (e.type === 'response.output_text.delta' && first.filter((x) => x.type === e.type).length === 3) break;
  }
  // Leaving the loop aborts the request: server A sees its client go (and cancels nothing).
  const last = first.at(-1).sequence_number;
  first.forEach((e, i) => assert.equal(e.sequence_number, i));

  const rest = [];
  const resumed = await b.responses.retrieve(r.id, { stream: true, starting_after: last });
  for await (const e of resumed) rest.push(e);
  rest.forEach((e, i) => assert.equal(e.sequence_number, last + 1 + i, `event ${i} after the resume`));
  const all = [...first, ...rest];
  assert.equal(all[0].type, 'response.created');
  assert.equal(all.at(-1).type, 'response.completed');
  const text = all.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(text, c.text);
  assert.equal(all.at(-1).response.output_text ?? all.at(-1).response.output[0].content[0].text, c.text);
  assert.equal(all.filter((e) => e.type === 'response.output_text.done').length, 1);

  // Once finished, the stream is replayed from the store alone, on either server, and the same.
  const replay = [];
  for await (const e of await a.responses.retrieve(r.id, { stream: true, starting_after: last })) replay.push(e);
  assert.deepEqual(replay.map((e) => [e.sequence_number, e.type, e.delta ?? null]),
    rest.map((e) => [e.sequence_number, e.type, e.delta ?? null]));
});

test('only background responses can be cancelled or streamed again', async () => {
  const c = testCase('chat');
  const r = await a.responses.create({ model, input: c.prompt, max_output_tokens: c.max_tokens });
  await assert.rejects(a.responses.cancel(r.id), (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(a.responses.retrieve(r.id, { stream: true }), (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(
    a.responses.create({ model, input: 'x', background: true, store: false }),
    (e) => e instanceof OpenAI.BadRequestError);
});
