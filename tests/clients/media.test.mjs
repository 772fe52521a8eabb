// Images and embeddings through both front doors with the official clients, against both
// upstream kinds: the driver (compat_e2e_test.cpp) starts a fake Ollama and a fake
// OpenAI-compatible server behind one worker and a mock worker, and passes
//   LLMPROXY_VISION_MODELS  [{"model", "fake"}]: a vision model of each fake, and the fake's URL
//   LLMPROXY_EMBED_MODELS   models that embed (a model of each fake and the mock)
//   LLMPROXY_EMBED_CASES    {"texts": [...], "vectors": [[...]], "vectors4": [[...]]}: the
//                           mock's vectors (src/providers/embedding_exchange.hpp) for the texts,
//                           and with dimensions 4
//   LLMPROXY_IMAGE          a small PNG, base64
// The fakes count the images they decode (/_fake/stats), so each test sees its image arrive in
// the upstream's own shape (Ollama: base64 in images; OpenAI: a data: URL in an image_url part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { url, testCase } from './cases.mjs';

const vision = JSON.parse(process.env.LLMPROXY_VISION_MODELS ?? '[]');
const embedModels = JSON.parse(process.env.LLMPROXY_EMBED_MODELS ?? '[]');
const cases = JSON.parse(process.env.LLMPROXY_EMBED_CASES ?? '{}');
const image = process.env.LLMPROXY_IMAGE ?? '';
assert.ok(vision.length > 0 && embedModels.length > 0 && image, 'run these tests through compat_e2e_test');
const imageBytes = Buffer.from(image, 'base64').length;

const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'not-needed', maxRetries: 0, timeout: 30_000 });
const ollama = new Ollama({ host: `${url}/ollama` });

async function fakeStats(fake) {
  const r = await fetch(`${fake}/_fake/stats`);
  assert.equal(r.status, 200);
  return r.json();
}

/// Runs `f` and checks that `fake` decoded exactly one image of the test image's size meanwhile.
async function expectOneImage(fake, f) {
  const before = await fakeStats(fake);
  const out = await f();
  const after = await fakeStats(fake);
  assert.equal(after.images_received - before.images_received, 1, 'the upstream got the image');
  assert.equal(after.image_bytes_received - before.image_bytes_received, imageBytes, 'all of its bytes');
  return out;
}

function assertVectorsEqual(actual, expected) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; ++i) {
    assert.equal(actual[i].length, expected[i].length, `vector ${i}'s length`);
    for (let k = 0; k < expected[i].length; ++k) {
      assert.ok(Math.abs(actual[i][k] - expected[i][k]) < 1e-7, `vector ${i}[${k}]: ${actual[i][k]} != ${expected[i][k]}`);
    }
  }
}

for (const { model, fake } of vision) {
  test(`openai SDK, ${model}: an image_url data: URL reaches the vision model`, async () => {
    const c = testCase('chat');
    const reply = await expectOneImage(fake, () =>
      openai.chat.completions.create({
        model,
        max_tokens: c.max_tokens,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: c.prompt },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${image}`, detail: 'low' } },
            ],
          },
        ],
      }),
    );
    assert.equal(reply.choices[0].message.content, c.text);
  });

  test(`ollama client, ${model}: base64 images reach the vision model (streamed)`, async () => {
    const c = testCase('chat');
    const text = await expectOneImage(fake, async () => {
      const stream = await ollama.chat({
        model,
        stream: true,
        options: { num_predict: c.max_tokens },
        messages: [{ role: 'user', content: c.prompt, images: [image] }],
      });
      let out = '';
      for await (const part of stream) {
        out += part.message.content;
      }
      return out;
    });
    assert.equal(text, c.text);
  });

  test(`${model}: a remote image URL is refused with a 400 at both doors`, async () => {
    const before = await fakeStats(fake);
    await assert.rejects(
      openai.chat.completions.create({
        model,
        stream: true,
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest/meta-data/' } }] },
        ],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.status, 400);
        assert.match(err.message, /remote URL.*--allow-remote-images/);
        return true;
      },
    );
    await assert.rejects(
      ollama.chat({ model, messages: [{ role: 'user', content: 'look', images: ['https://example.com/cat.png'] }] }),
      (err) => {
        assert.equal(err.status_code, 400);
        assert.match(err.error, /remote URL/);
        return true;
      },
    );
    // POSTs, not all requests: the workers' model-list refresh (a GET) reaches the fake on its own clock.
    const after = await fakeStats(fake);
    assert.equal(after.posts, before.posts, 'nothing was sent to the upstream');
  });
}

for (const model of embedModels) {
  test(`openai SDK, ${model}: embeddings of a batch, in order, with usage (base64 by default, float asked)`, async () => {
    const r = await openai.embeddings.create({ model, input: cases.texts });
    assert.equal(r.object, 'list');
    assert.deepEqual(r.data.map((d) => d.index), cases.texts.map((_, i) => i));
    assertVectorsEqual(r.data.map((d) => Array.from(d.embedding)), cases.vectors);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens);

    const f = await openai.embeddings.create({ model, input: cases.texts[0], encoding_format: 'float', dimensions: 4 });
    assert.equal(f.data.length, 1);
    assert.ok(Array.isArray(f.data[0].embedding));
    assertVectorsEqual([f.data[0].embedding], [cases.vectors4[0]]);
  });

  test(`ollama client, ${model}: embed() a batch and one text, and the legacy embeddings()`, async () => {
    const r = await ollama.embed({ model, input: cases.texts });
    assertVectorsEqual(r.embeddings, cases.vectors);
    assert.ok(r.prompt_eval_count > 0);
    assert.equal(typeof r.total_duration, 'number');

    const one = await ollama.embed({ model, input: cases.texts[1], dimensions: 4 });
    assertVectorsEqual(one.embeddings, [cases.vectors4[1]]);

    const legacy = await ollama.embeddings({ model, prompt: cases.texts[0] });
    assertVectorsEqual([legacy.embedding], [cases.vectors[0]]);
  });
}
