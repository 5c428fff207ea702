#!/usr/bin/env bash
# The docs cannot rot: every relative link in README.md and docs/ resolves (file and #heading), every rslicer command
# quoted in docs/getting-started.md parses (`--cfg job` for the configured commands, `--help` for the others), the
# key reference in docs/configuration.md is current, and no file speaks of work sessions.
# usage: test_docs.sh <rslicer binary>
set -u
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fails=0; passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 1. Links.
links=$(/usr/bin/python3 - README.md docs/*.md <<'PY'
import os, re, sys
def slug(heading):
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")
for doc in sys.argv[1:]:
    text = open(doc).read()
    text_no_code = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text_no_code):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(full):
            print(f"{doc}: {target} (no such file)")
            continue
        if anchor and full.endswith(".md"):
            slugs = {slug(h) for h in re.findall(r"^#+\s+(.*)$", open(full).read(), flags=re.M)}
            if anchor not in slugs:
                print(f"{doc}: {target} (no heading '{anchor}')")
PY
)
if [[ -n $links ]]; then while read -r l; do fail "broken link $l"; done <<< "$links"; else ok; fi
count=$(grep -o '\](' README.md docs/*.md | wc -l)
[[ $count -ge 20 ]] && ok || fail "only $count links found: the link check read nothing"

# 2. Commands of getting-started.md.
n=0
while IFS= read -r line; do
  line=${line%%#*}
  [[ $line =~ (^|[[:space:]])rslicer[[:space:]]+([a-z]+)(.*)$ ]] || continue
  cmd=${BASH_REMATCH[2]}; args=${BASH_REMATCH[3]}
  n=$((n + 1))
  eval "set -- $args"
  case $cmd in
    inspect|tokenize) out=$("$bin" "$cmd" --help 2>&1) ;;
    *) out=$("$bin" "$cmd" "$@" --cfg job 2>&1) ;;
  esac
  if [[ $? -eq 0 ]]; then ok; else fail "getting-started.md: rslicer $cmd$args -> $(tail -1 <<< "$out")"; fi
done < <(awk '/^```/{code=!code; next} code' docs/getting-started.md)
[[ $n -ge 10 ]] && ok || fail "only $n commands found in docs/getting-started.md"
echo "checked $n commands of docs/getting-started.md"

# 3. The key reference.
if /usr/bin/python3 scripts/config_reference.py "$bin" docs/configuration.md --check; then ok; else fail "docs/configuration.md is stale"; fi

# 4. No work-history words.
if hits=$(git grep -n -i -w -E "sessions?" -- . ':!tests/docs/test_docs.sh' 2>/dev/null) && [[ -n $hits ]]; then
  fail "work-session words: $(head -3 <<< "$hits")"
else
  ok
fi

echo "$passes passed, $fails failed"
((fails == 0))
