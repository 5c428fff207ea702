// The JS reference tokenizer (@lenml/tokenizers, a fork of transformers.js) for golden tests and benchmarks.
// usage: node tokenize_reference.js <tokenizer dir> <input> [--json] [--time]
//   input: one text per line (read as UTF-8, invalid bytes become U+FFFD), or with --json a JSON array of strings.
//   prints a JSON array of id arrays (encode() without special tokens); --time prints {"tokens", "seconds"} instead.
const fs = require('fs');
const { TokenizerLoader } = require('@lenml/tokenizers');
const [dir, input, ...flags] = process.argv.slice(2);
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(dir + '/tokenizer.json', 'utf8')),
  tokenizerConfig: JSON.parse(fs.readFileSync(dir + '/tokenizer_config.json', 'utf8')),
});
const raw = fs.readFileSync(input, 'utf8');
let texts = flags.includes('--json') ? JSON.parse(raw) : raw.split('\n');
if (!flags.includes('--json') && texts.length && texts[texts.length - 1] === '') texts.pop();
if (flags.includes('--time')) {
  const t0 = process.hrtime.bigint();
  let tokens = 0;
  for (const t of texts) tokens += tok.encode(t).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ tokens, seconds }) + '\n');
} else {
  process.stdout.write(JSON.stringify(texts.map((t) => tok.encode(t))) + '\n');
}
