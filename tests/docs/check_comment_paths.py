"""Every repository path named in a comment exists: `src/...`, `tests/...`, `docs/...`, `bench/...`, `configs/...`,
`scripts/...`, `launch/...`, `slurm/...` from the root, and `<library>/<file>.h|.cpp` from src/ (as headers are
included). Comments are what follows // in C++ and # in shell, Python, YAML and CMake files.
usage: /usr/bin/python3 check_comment_paths.py <repository root>   (exit 1 naming each missing path)"""
import os
import re
import subprocess
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
FROM_ROOT = re.compile(r"(?<![\w./-])((?:src|tests|docs|bench|configs|scripts|launch|slurm)/[\w./-]*\w)")
LIBRARIES = "core|config|data|model|dist|losses|train|tuning|cli"
FROM_SRC = re.compile(r"(?<![\w./-])((?:%s)/[\w-]+\.(?:h|cpp))\b" % LIBRARIES)
MARKERS = {".h": "//", ".cpp": "//", ".sh": "#", ".py": "#", ".yaml": "#", ".txt": "#", "": "#"}


def comments(path):
    marker = MARKERS.get(os.path.splitext(path)[1])
    if marker is None:
        return
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            at = line.find(marker)
            if at >= 0 and not (marker == "#" and line.lstrip().startswith("#include")):
                yield number, line[at + len(marker):]


def main():
    files = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    missing = []
    checked = 0
    for path in files:
        if not path.split("/")[0] in ("src", "tests", "bench", "scripts", "launch", "slurm", "configs", ".ci") and \
                path not in ("CMakeLists.txt", "Makefile"):
            continue
        for number, text in comments(path):
            for name in FROM_ROOT.findall(text):
                checked += 1
                if not os.path.exists(os.path.join(ROOT, name.rstrip("."))):
                    missing.append(f"{path}:{number}: {name}")
            for name in FROM_SRC.findall(text):
                checked += 1
                if not os.path.exists(os.path.join(ROOT, "src", name)):
                    missing.append(f"{path}:{number}: {name} (as src/{name})")
    for m in missing:
        print("error: a comment names a path that does not exist:", m)
    print(f"{checked} paths named in comments, {len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
